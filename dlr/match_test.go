package dlr_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smppmux/smppmux/dlr"
	"github.com/smppmux/smppmux/dlr/memstore"
	"github.com/smppmux/smppmux/dlr/storetest"
	"github.com/smppmux/smppmux/internal/pdu"
)

// smscForm is how a simulated SMSC writes the ids of its receipts, and
// whether smppmux's reader is configured with that form or learns it.
type smscForm struct {
	form dlr.ReceiptIDForm
	auto bool
}

var smscForms = []smscForm{
	{dlr.FormExact, false}, {dlr.FormExact, true},
	{dlr.FormSame, false}, {dlr.FormSame, true},
	{dlr.FormHexDecimal, false}, {dlr.FormHexDecimal, true},
	{dlr.FormDecimalHex, false}, {dlr.FormDecimalHex, true},
}

// receiptFor builds a receipt an SMSC of form writes for its message id,
// v choosing where the id goes (TLV and text, text only, TLV only) and how
// it is written within what form allows (as issued, upper case, lower
// case, zero-padded; the text in the other base for the base forms).
func receiptFor(id string, form dlr.ReceiptIDForm, v byte) *pdu.SM {
	where, how, tlvToo := v%3, (v/3)%4, v/12%2 == 1
	write := func(s string) string {
		if form == dlr.FormExact {
			return s
		}
		switch how {
		case 1:
			return strings.ToUpper(s)
		case 2:
			return strings.ToLower(s)
		case 3:
			return "00" + s
		}
		return s
	}
	text := write(id)
	switch form {
	case dlr.FormHexDecimal:
		if n, err := strconv.ParseUint(id, 16, 64); err == nil {
			text = strconv.FormatUint(n, 10)
		}
	case dlr.FormDecimalHex:
		if n, err := strconv.ParseUint(id, 10, 64); err == nil {
			text = write(strconv.FormatUint(n, 16))
		}
	}
	tlv := id
	if tlvToo {
		tlv = write(id)
	}
	sm := &pdu.SM{ESMClass: 4}
	if where != 2 {
		sm.ShortMessage = []byte("id:" + text + " sub:001 dlvrd:001 stat:DELIVRD err:000")
	}
	if where != 1 {
		sm.TLVs = pdu.AppendTLV(nil, pdu.TagReceiptedMessageID, append([]byte(tlv), 0))
	}
	return sm
}

// issues reports whether an SMSC of form could issue id: one whose texts
// are in another base issues numbers in its own.
func issues(form dlr.ReceiptIDForm, id string) bool {
	var err error
	switch form {
	case dlr.FormHexDecimal:
		_, err = strconv.ParseUint(id, 16, 64)
	case dlr.FormDecimalHex:
		_, err = strconv.ParseUint(id, 10, 64)
	}
	return err == nil
}

// FuzzReceiptMatch maps a set of upstream ids, chosen to collide under
// folding (aB1 and Ab1, 07 and 7), then looks up receipts an SMSC writes
// for them in every form its id_format allows, with the reader configured
// or learning. A receipt reaches only its own message: whenever the id
// it carries, as read, is not another message's id octet for octet, a
// match is its own message. It reaches it whenever it carries the id as
// issued, or, with folding, whenever no other mapped id folds alike; when
// others do and none is the id read, it is ambiguous.
func FuzzReceiptMatch(f *testing.F) {
	f.Add(uint8(1), "aB1 Ab1 07 7", []byte{0, 1, 2, 3})
	f.Add(uint8(3), "aB1 Ab1 07 7 xY", []byte{3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 16})
	f.Add(uint8(2), "Aa357dbcb0e40 aa357dbcb0e40 0aA357DBCB0E40", []byte{4, 7, 10, 13, 22})
	f.Add(uint8(5), "1F 1f 31 a A", []byte{0, 12, 1, 4, 7})
	f.Add(uint8(7), "31 031 25 19", []byte{0, 3, 6, 9, 13, 16})
	f.Add(uint8(0), "0 00 000", []byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, mode uint8, spec string, variants []byte) {
		sf := smscForms[int(mode)%len(smscForms)]
		var ids []string
		seen := map[string]bool{}
		for _, id := range strings.Fields(spec) {
			if len(id) > 20 || !alnum(id) || seen[id] || len(ids) == 16 || !issues(sf.form, id) {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
		}
		if len(ids) == 0 || len(variants) == 0 || len(variants) > 64 {
			return
		}
		s := memstore.New(nil)
		exp := time.Now().Add(time.Hour)
		group := map[string][]int{} // folded id -> the messages whose id folds to it
		for i, id := range ids {
			storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: id, Origin: dlr.Origin{SystemID: "shop", ClientID: fmt.Sprint("c", i)}, Expires: exp})
			group[dlr.FoldID(id)] = append(group[dlr.FoldID(id)], i)
		}
		start := dlr.FormExact
		if !sf.auto {
			start = sf.form
		}
		r := dlr.NewIDReader(start, sf.auto)
		for k, v := range variants {
			own := k % len(ids)
			sm := receiptFor(ids[own], sf.form, v)
			ref, _, _, err := r.Ref(sm)
			if err != nil {
				t.Fatalf("receipt for %q: %v", ids[own], err)
			}
			route, res, err := dlr.Find(s, "u", ref)
			if err != nil {
				t.Fatal(err)
			}
			got := -1
			if res == dlr.Found {
				if _, err := fmt.Sscanf(route.ClientID, "c%d", &got); err != nil {
					t.Fatalf("route %+v", route)
				}
			}
			exact := -1
			for i, id := range ids {
				if id == ref.ID {
					exact = i
				}
			}
			where := fmt.Sprintf("%s (auto %v): receipt %d for %q read as %+v", sf.form, sf.auto, k, ids[own], ref)
			if res == dlr.Found && got != own && (exact == -1 || exact == own) {
				t.Fatalf("%s: delivered to %q", where, ids[got])
			}
			switch {
			case exact == own && (res != dlr.Found || got != own):
				t.Fatalf("%s: %v, not its own message", where, res)
			case exact != -1:
				// Another message's id as written: nothing can tell.
			case ref.Folded == "" && res != dlr.NotFound:
				t.Fatalf("%s: %v without folding", where, res)
			case ref.Folded == "":
			case len(group[ref.Folded]) == 1 && group[ref.Folded][0] == own && res != dlr.Found:
				t.Fatalf("%s: %v, the only id of its folded form", where, res)
			case len(group[ref.Folded]) > 1 && res != dlr.Ambiguous:
				t.Fatalf("%s: %v with %d ids of its folded form", where, res, len(group[ref.Folded]))
			}
		}
	})
}

// TestFindFoldsOnlyWhenAllowed runs Find over the ids of the issue (an
// SMSC issuing aB1, Ab1, 07 and 7) for each reader form.
func TestFindFoldsOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	s := memstore.New(nil)
	exp := time.Now().Add(time.Hour)
	for _, id := range []string{"aB1", "Ab1", "07", "7", "Xy9"} {
		storetest.PutSync(t, s, dlr.Mapping{Upstream: "u", UpstreamID: id, Origin: dlr.Origin{SystemID: "shop", ClientID: "c-" + id}, Expires: exp})
	}
	tests := []struct {
		form   dlr.ReceiptIDForm
		id     string
		want   dlr.Result
		client string
	}{
		{dlr.FormExact, "aB1", dlr.Found, "c-aB1"},
		{dlr.FormExact, "Ab1", dlr.Found, "c-Ab1"},
		{dlr.FormExact, "07", dlr.Found, "c-07"},
		{dlr.FormExact, "7", dlr.Found, "c-7"},
		{dlr.FormExact, "AB1", dlr.NotFound, ""},
		{dlr.FormExact, "007", dlr.NotFound, ""},
		{dlr.FormExact, "xy9", dlr.NotFound, ""},
		{dlr.FormSame, "aB1", dlr.Found, "c-aB1"},
		{dlr.FormSame, "07", dlr.Found, "c-07"},
		{dlr.FormSame, "AB1", dlr.Ambiguous, ""},
		{dlr.FormSame, "007", dlr.Ambiguous, ""},
		{dlr.FormSame, "XY9", dlr.Found, "c-Xy9"},
		{dlr.FormSame, "0xy9", dlr.Found, "c-Xy9"},
		{dlr.FormSame, "zz", dlr.NotFound, ""},
	}
	for _, tt := range tests {
		ref := dlr.NewIDReader(tt.form, false).RefTLV([]byte(tt.id))
		route, res, err := dlr.Find(s, "u", ref)
		if err != nil || res != tt.want || route.ClientID != tt.client {
			t.Errorf("%v %q: %v %q %v; want %v %q", tt.form, tt.id, res, route.ClientID, err, tt.want, tt.client)
		}
	}
}
