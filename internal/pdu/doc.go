// Package pdu frames SMPP 3.4 PDUs, decodes the few fields smppmux must
// see and changes the few it must change.
//
// A PDU is read whole: the 4-byte command_length is checked against
// [HeaderLen] and a maximum (64 KiB by default) before the rest of the frame
// is read, so a hostile peer cannot make a reader allocate more than that.
// A [Frame] keeps the exact bytes it was read as; relayed bodies are written
// on unchanged, never decoded and re-encoded.
//
// Decoding: bind bodies; submit_sm, deliver_sm and data_sm into one form,
// [SM]; the message_id of query_sm, cancel_sm and replace_sm
// ([ByMessageID]); what routes a submit_multi; the reference shared by the
// parts of a concatenated message ([ConcatRef]). Changing: [Splice] copies
// a PDU or a field with a range of octets replaced, and everything that
// puts another message id in a relayed PDU goes through it
// ([ByMessageID.WithMessageID], [RespWithMessageID], [RewriteSM]).
//
// Command ids, command_status values and TLV tags come from
// github.com/fiorix/go-smpp. Its field decoder is not used on the hot path:
// it allocates a map per PDU and accepts truncated fields silently, where
// smppmux must answer a truncated or unterminated field with an error status.
//
// The package starts no goroutines.
package pdu
