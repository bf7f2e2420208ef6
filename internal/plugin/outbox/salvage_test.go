package outbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// outboxContents is what a Store holds: orders by number (as JSON), events
// by sequence, the counters.
type outboxContents struct {
	orders map[string]string
	events map[uint64]string
	stats  Stats
}

func readOutbox(t *testing.T, path, keyFile string) outboxContents {
	t.Helper()
	s, err := Open(Options{Path: path, KeyFile: keyFile})
	if err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	defer s.Close()
	c := outboxContents{orders: map[string]string{}, events: map[uint64]string{}}
	os, _, err := s.List("", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range os {
		j, _ := json.Marshal(o)
		c.orders[o.OutOrderNo] = string(j)
	}
	// The stored events as they are (EventsAfter reports gaps in its own
	// way): each sealed record that opens.
	err = s.view(func(tx *Tx) error {
		return tx.tx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
			plain, err := unseal(s.aead, place(bucketEvents, k), v)
			if err != nil {
				return fmt.Errorf("event %x: %v", k, err)
			}
			c.events[seqOf(k)] = string(plain)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.stats, err = s.Stats(); err != nil {
		t.Fatal(err)
	}
	return c
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// salvageFixture is a sound outbox with a set-aside record, its key, and
// what it holds (read from a copy, so the file itself stays as written).
func salvageFixture(t *testing.T, n int) (dir, src, keyFile string, want outboxContents, deleted []string) {
	t.Helper()
	dir = t.TempDir()
	src = pagesOutbox(t, dir, n)
	keyFile = filepath.Join(dir, "outbox.key")
	s, err := Open(Options{Path: src})
	if err != nil {
		t.Fatal(err)
	}
	err = s.update(func(tx *Tx) error {
		return tx.tx.Bucket(bucketCorrupt).Put([]byte("orders/K17-BROKEN"), []byte("not a record"))
	})
	if err == nil {
		// Deleted in the last commit: its old leaf page is free and
		// nothing has written over it, so a reader of free pages finds it.
		_, err = s.Modify("K17-000000", func(o *Order) (*Order, []Event, error) { return nil, nil, nil })
	}
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "reference.db")
	copyFile(t, src, ref)
	want = readOutbox(t, ref, keyFile)
	deleted = append(deleted, "K17-000000")
	for j := 5; j < n; j += 6 {
		deleted = append(deleted, fmt.Sprintf("K17-%06d", j))
	}
	return dir, src, keyFile, want, deleted
}

func TestSalvageCopiesASoundOutboxWhole(t *testing.T) {
	dir, src, keyFile, want, deleted := salvageFixture(t, 300)
	dst := filepath.Join(dir, "salvaged", "outbox.db")
	rep, err := Salvage(src, dst, "")
	if err != nil {
		t.Fatal(err)
	}
	got := readOutbox(t, dst, keyFile)
	if len(got.orders) != len(want.orders) || len(rep.Orders) != len(want.orders) {
		t.Fatalf("copied %d orders (report %d), the outbox held %d", len(got.orders), len(rep.Orders), len(want.orders))
	}
	for no, o := range want.orders {
		if got.orders[no] != o {
			t.Errorf("order %s: copied %s, was %s", no, got.orders[no], o)
		}
	}
	for i, o := range rep.Orders {
		var w Order
		_ = json.Unmarshal([]byte(want.orders[o.OutOrderNo]), &w)
		if o.State != w.State() || (i > 0 && rep.Orders[i-1].OutOrderNo >= o.OutOrderNo) {
			t.Errorf("report order %d: %+v, want state %s, in order", i, o, w.State())
		}
	}
	if len(got.events) != len(want.events) || rep.Events != len(want.events) {
		t.Errorf("copied %d events (report %d), the outbox held %d", len(got.events), rep.Events, len(want.events))
	}
	for seq, ev := range want.events {
		if got.events[seq] != ev {
			t.Errorf("event %d: copied %s, was %s", seq, got.events[seq], ev)
		}
	}
	ws, gs := want.stats, got.stats
	if gs.QueuedCount != ws.QueuedCount || gs.QueuedAmount != ws.QueuedAmount || gs.FailedCount != ws.FailedCount ||
		gs.WorkCount != ws.WorkCount || gs.LastEventSeq != ws.LastEventSeq || gs.CorruptCount != 1 || rep.Corrupt != 1 {
		t.Errorf("stats: copied %+v, were %+v", gs, ws)
	}
	if len(rep.Unreadable) != 0 || len(rep.BadRecords) != 0 {
		t.Errorf("a sound outbox reported unreadable: %+v %v", rep.Unreadable, rep.BadRecords)
	}
	// Deleted orders live on in free pages; they are reported, never copied.
	for _, no := range deleted {
		if _, ok := got.orders[no]; ok {
			t.Errorf("deleted order %s was copied", no)
		}
	}
	for _, o := range rep.OutsideTree {
		if _, ok := got.orders[o.OutOrderNo]; ok {
			t.Errorf("order %s is listed outside the tree but is in it", o.OutOrderNo)
		}
	}
	if len(rep.OutsideTree) == 0 || rep.OutsideTree[0].OutOrderNo != "K17-000000" {
		t.Errorf("the order deleted last is not reported as found outside the tree: %v", rep.OutsideTree)
	}
	if !strings.Contains(rep.String(), fmt.Sprintf("copied %d orders", len(want.orders))) || !strings.Contains(rep.String(), "K17-000000 (") {
		t.Errorf("report: %s", rep.String())
	}

	// The new outbox's key is the old one: the config's key file opens it.
	if _, err := Salvage(src, dst, keyFile); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("salvage over an existing file: %v", err)
	}
	if _, err := Salvage(src, src, keyFile); err == nil {
		t.Error("salvage onto itself was not refused")
	}
	other := filepath.Join(dir, "other.key")
	if err := os.WriteFile(other, []byte(strings.Repeat("cd", KeyLen)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Salvage(src, filepath.Join(dir, "x.db"), other); !errors.Is(err, ErrWrongKey) {
		t.Errorf("salvage with another key: %v", err)
	}
}

// TestSalvageDamagedOutboxes salvages outboxes CheckFile refuses (bit
// flips, truncation) and requires that the new outbox opens, that every
// order and event it holds is exactly as the undamaged outbox held it
// (never an old version, never a deleted order), and that the report
// accounts for what was lost.
func TestSalvageDamagedOutboxes(t *testing.T) {
	dir, src, keyFile, want, deleted := salvageFixture(t, 600)
	base, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	pageSize, used := usedPages(t, src)

	var files []string
	add := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if errors.Is(CheckFile(p), ErrDamaged) {
			files = append(files, p)
		}
	}
	for seed := uint64(0); seed < 400 && len(files) < 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 11))
		data := bytes.Clone(base)
		for range 1 + int(seed%4) {
			pg := used[r.IntN(len(used))]
			data[pg*pageSize+r.IntN(pageSize)] ^= 1 << r.IntN(8)
		}
		add(fmt.Sprintf("flip-%d.db", seed), data)
	}
	for _, n := range []int{8 << 10, 16 << 10, 24 << 10, len(base) / 3, len(base) / 2, len(base) * 3 / 4} {
		add(fmt.Sprintf("trunc-%d.db", n), base[:n])
	}
	if len(files) < 30 {
		t.Fatalf("only %d damaged files", len(files))
	}

	isDeleted := map[string]bool{}
	for _, no := range deleted {
		isDeleted[no] = true
	}
	var totalOrders, totalEvents, failed int
	for i, f := range files {
		dst := filepath.Join(dir, fmt.Sprintf("out-%d", i), "outbox.db")
		rep, err := Salvage(f, dst, keyFile)
		if err != nil {
			// Only a file whose meta pages are both gone has no tree to walk.
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "meta") {
				t.Errorf("%s: %v", filepath.Base(f), err)
			}
			failed++
			continue
		}
		got := readOutbox(t, dst, keyFile)
		if len(got.orders) != len(rep.Orders) || len(got.events) != rep.Events {
			t.Errorf("%s: report says %d orders and %d events, the new outbox holds %d and %d", filepath.Base(f), len(rep.Orders), rep.Events, len(got.orders), len(got.events))
		}
		for no, o := range got.orders {
			if isDeleted[no] {
				t.Errorf("%s: deleted order %s was copied", filepath.Base(f), no)
			} else if want.orders[no] != o {
				t.Errorf("%s: order %s copied as %s, was %s", filepath.Base(f), no, o, want.orders[no])
			}
		}
		for seq, ev := range got.events {
			if want.events[seq] != ev {
				t.Errorf("%s: event %d copied as %s, was %s", filepath.Base(f), seq, ev, want.events[seq])
			}
			if seq > got.stats.LastEventSeq {
				t.Errorf("%s: event %d is above the event sequence %d", filepath.Base(f), seq, got.stats.LastEventSeq)
			}
		}
		if got.stats.LastEventSeq != rep.EventSeq {
			t.Errorf("%s: event sequence %d, report says %d", filepath.Base(f), got.stats.LastEventSeq, rep.EventSeq)
		}
		lost := len(got.orders) < len(want.orders) || len(got.events) < len(want.events)
		if lost && len(rep.Unreadable) == 0 && len(rep.BadRecords) == 0 {
			t.Errorf("%s: %d of %d orders, %d of %d events copied, and the report names nothing unreadable",
				filepath.Base(f), len(got.orders), len(want.orders), len(got.events), len(want.events))
		}
		for _, d := range rep.Unreadable {
			if d.Why == "" || d.Bucket == "" && d.Page == 0 {
				t.Errorf("%s: a vague unreadable entry %+v", filepath.Base(f), d)
			}
		}
		totalOrders += len(got.orders)
		totalEvents += len(got.events)
		if i == 0 || strings.Contains(f, "trunc-24576") {
			t.Logf("%s: %s", filepath.Base(f), firstLines(rep.String(), 1))
			for _, d := range rep.Unreadable[:min(2, len(rep.Unreadable))] {
				t.Logf("  could not read %s", d)
			}
		}
	}
	n := len(files) - failed
	t.Logf("%d damaged files salvaged (%d had no valid meta page): %.1f%% of orders and %.1f%% of events copied on average",
		n, failed, 100*float64(totalOrders)/float64(n*len(want.orders)), 100*float64(totalEvents)/float64(n*len(want.events)))
}
