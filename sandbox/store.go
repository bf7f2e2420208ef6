package sandbox

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// OrdersFile is the order log inside Options.Dir: JSON lines, one full
// order snapshot per change, the last line for an out_order_no wins.
const OrdersFile = "orders.jsonl"

// ServiceOrdersFile is the service orders' log beside OrdersFile, in the
// same form. A file of its own keeps order logs written before service
// orders existed readable as they are.
const ServiceOrdersFile = "serviceorders.jsonl"

// logged is what a log keeps: a snapshot with a key (the last line for a
// key wins), a creation time (the compacted log's order) and a check that
// a decoded line is whole.
type logged interface {
	logKey() string
	logCreated() time.Time
	logCheck() error
}

func (o *Order) logKey() string        { return o.OutOrderNo }
func (o *Order) logCreated() time.Time { return o.CreatedAt }
func (o *Order) logCheck() error {
	if o.OutOrderNo == "" || o.QueryID == "" {
		return errors.New("out_order_no or query_id missing")
	}
	return nil
}

// store appends order snapshots; each change costs one write, never a
// rewrite of the file.
type store struct {
	path string
	f    *os.File
}

// openStore replays the order log, compacts it to one line per order and
// opens it for appending.
func openStore(dir string, logf func(string, ...any)) (*store, []*Order, error) {
	return openLog[Order](dir, OrdersFile, logf)
}

// openLog replays the log dir/name, compacts it to one line per key and
// opens it for appending.
func openLog[T any, P interface {
	*T
	logged
}](dir, name string, logf func(string, ...any)) (*store, []P, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("sandbox: create dir: %w", err)
	}
	path := filepath.Join(dir, name)
	records, err := replay[T, P](path, logf)
	if err != nil {
		return nil, nil, err
	}
	list := make([]P, 0, len(records))
	for _, o := range records {
		list = append(list, o)
	}
	sort.Slice(list, func(i, j int) bool {
		if a, b := list[i].logCreated(), list[j].logCreated(); !a.Equal(b) {
			return a.Before(b)
		}
		return list[i].logKey() < list[j].logKey()
	})

	var buf bytes.Buffer
	for _, o := range list {
		buf.Write(marshal(o))
		buf.WriteByte('\n')
	}
	if err := writeFileAtomic(path, buf.Bytes(), 0o600); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: open %s: %w", path, err)
	}
	return &store{path: path, f: f}, list, nil
}

func replay[T any, P interface {
	*T
	logged
}](path string, logf func(string, ...any)) (map[string]P, error) {
	orders := map[string]P{}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return orders, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sandbox: open %s: %w", path, err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var pending error // a bad line is fatal only if another line follows it
	for lineNo := 1; ; lineNo++ {
		line, rerr := r.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return nil, fmt.Errorf("sandbox: read %s: %w", path, rerr)
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if pending != nil {
				return nil, pending
			}
			o := P(new(T))
			err := json.Unmarshal(line, o)
			if err == nil {
				err = o.logCheck()
			}
			if err != nil {
				pending = fmt.Errorf("sandbox: %s line %d is corrupt: %v", path, lineNo, err)
			} else {
				orders[o.logKey()] = o
			}
		}
		if rerr == io.EOF {
			break
		}
	}
	if pending != nil {
		// A torn last line: the process died while appending it.
		logf("sandbox: warning: ignoring torn last line: %v", pending)
	}
	return orders, nil
}

func (st *store) append(o any) error {
	line := append(marshal(o), '\n')
	_, err := st.f.Write(line) // one write per snapshot; O_APPEND keeps lines whole
	return err
}

func (st *store) close() error { return st.f.Close() }
