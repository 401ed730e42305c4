package pdu

import (
	"encoding/binary"

	smpp "github.com/fiorix/go-smpp/smpp/pdu"
)

// HeaderLen is the length of an SMPP PDU header.
const HeaderLen = 16

// DefaultMaxLen is the largest command_length accepted by default.
const DefaultMaxLen = 64 * 1024

// MaxSeq is the largest sequence_number SMPP 3.4 allows; sequences wrap from
// MaxSeq back to 1.
const MaxSeq = 0x7FFFFFFF

// ID is an SMPP command_id.
type ID = smpp.ID

// Status is an SMPP command_status.
type Status = smpp.Status

// Header is a decoded PDU header.
type Header struct {
	Len    uint32
	ID     ID
	Status Status
	Seq    uint32
}

// ParseHeader decodes the first HeaderLen bytes of b. It does not check the
// length.
func ParseHeader(b []byte) Header {
	_ = b[HeaderLen-1]
	return Header{
		Len:    binary.BigEndian.Uint32(b[0:4]),
		ID:     ID(binary.BigEndian.Uint32(b[4:8])),
		Status: Status(binary.BigEndian.Uint32(b[8:12])),
		Seq:    binary.BigEndian.Uint32(b[12:16]),
	}
}

// IsResponse reports whether id is the id of a response PDU.
func IsResponse(id ID) bool { return id&0x80000000 != 0 }

// RespID returns the command_id of the response to a request id.
func RespID(id ID) ID { return id | 0x80000000 }

// NextSeq returns the sequence number after seq, wrapping within 1..MaxSeq.
func NextSeq(seq uint32) uint32 {
	seq++
	if seq == 0 || seq > MaxSeq {
		return 1
	}
	return seq
}
