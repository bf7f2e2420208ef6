package outbox

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// pagesChildEnv, set, makes TestPagesBoltChild open and read the files
// listed (one a line) in the file it names, in this process: the parent
// re-executes the test binary for it, so that bbolt's panic or memory
// fault on a damaged file fails the parent's test instead of killing it.
const pagesChildEnv = "SMARTRETAIL_TEST_PAGES_CHILD"

// TestPagesBoltChild is the child's side of boltOpensAll; run alone it has
// nothing to do.
func TestPagesBoltChild(t *testing.T) {
	list := os.Getenv(pagesChildEnv)
	if list == "" {
		return
	}
	data, err := os.ReadFile(list)
	if err != nil {
		fmt.Printf("child: %v\n", err)
		os.Exit(3)
	}
	for i, path := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fmt.Printf("start %d\n", i)
		if err := boltReadAll(path); err != nil {
			fmt.Printf("err %d %s\n", i, strings.ReplaceAll(err.Error(), "\n", " "))
		} else {
			fmt.Printf("ok %d\n", i)
		}
	}
	os.Exit(0)
}

// boltReadAll opens path as the outbox does, reads every key and value of
// every bucket, and commits a change to every top-level bucket and takes
// it back (the outbox writes at open): what a plugin does with the file.
func boltReadAll(path string) error {
	db, err := bolt.Open(path, 0o600, BoltOptions(time.Second))
	if err != nil {
		return err
	}
	defer db.Close()
	var sum byte
	var readBucket func(b *bolt.Bucket) error
	readBucket = func(b *bolt.Bucket) error {
		_ = b.Sequence()
		return b.ForEach(func(k, v []byte) error {
			for _, c := range k {
				sum += c
			}
			if v == nil {
				if sub := b.Bucket(k); sub != nil {
					return readBucket(sub)
				}
				return nil
			}
			for _, c := range v {
				sum += c
			}
			return nil
		})
	}
	var names [][]byte
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			names = append(names, append([]byte(nil), name...))
			return readBucket(b)
		})
	})
	if err != nil {
		return err
	}
	key := []byte("\xffpages-test")
	for _, del := range []bool{false, true} {
		err := db.Update(func(tx *bolt.Tx) error {
			for _, name := range names {
				b := tx.Bucket(name)
				if b == nil {
					continue
				}
				if del {
					if err := b.Delete(key); err != nil {
						return err
					}
				} else if err := b.Put(key, []byte("x")); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// boltOpensAll runs boltReadAll on each file in a child process and says,
// for each, whether the child survived it (an error from bbolt is
// survival: the point is no panic and no fault). A child that dies is
// restarted on the files after the one it died on.
func boltOpensAll(t *testing.T, files []string) (survived []bool, deaths []string) {
	t.Helper()
	survived = make([]bool, len(files))
	dir := t.TempDir()
	for next := 0; next < len(files); {
		list := filepath.Join(dir, "list")
		if err := os.WriteFile(list, []byte(strings.Join(files[next:], "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestPagesBoltChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), pagesChildEnv+"="+list)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, _ := cmd.Output()
		started := -1
		sc := bufio.NewScanner(bytes.NewReader(out))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) < 2 {
				continue
			}
			i, err := strconv.Atoi(f[1])
			if err != nil {
				continue
			}
			switch f[0] {
			case "start":
				started = next + i
			case "ok", "err":
				survived[next+i] = true
			}
		}
		if started < 0 {
			t.Fatalf("the child did not start: %s", stderr.String())
		}
		if !survived[started] {
			deaths = append(deaths, fmt.Sprintf("%s: %s", filepath.Base(files[started]), firstLines(stderr.String(), 2)))
		}
		next = started + 1
	}
	return survived, deaths
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(strings.TrimSpace(s), "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " | ")
}

// pagesOutbox writes an outbox through the Store: n orders with their
// events, a third of them completed, a sixth deleted (so the file has free
// pages holding old versions), and returns its path.
func pagesOutbox(t testing.TB, dir string, n int) string {
	t.Helper()
	path := filepath.Join(dir, "outbox.db")
	s, err := Open(Options{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const batch = 50
	for i := 0; i < n; i += batch {
		err := s.update(func(tx *Tx) error {
			for j := i; j < min(i+batch, n); j++ {
				o := newOrder(fmt.Sprintf("K17-%06d", j), int64(100+j))
				seq, err := tx.tx.Bucket(bucketOrders).NextSequence()
				if err != nil {
					return err
				}
				o.Seq, o.StoredAt = seq, time.Unix(1764000000+int64(j), 0)
				if err := tx.put(o.OutOrderNo, nil, o); err != nil {
					return err
				}
				if err := tx.appendEvent(Event{Type: EventOrderQueued, OutOrderNo: o.OutOrderNo}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for j := 0; j < n; j++ {
		no := fmt.Sprintf("K17-%06d", j)
		switch j % 6 {
		case 1, 3:
			_, err = s.Modify(no, func(o *Order) (*Order, []Event, error) {
				o.Ops[0].State, o.Ops[0].DoneAt = OpDone, time.Unix(1764100000, 0)
				return o, []Event{{Type: EventOrderSubmitted}}, nil
			})
		case 5:
			_, err = s.Modify(no, func(o *Order) (*Order, []Event, error) { return nil, nil, nil })
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// usedPages lists the pages bbolt does not count as free, the meta pages
// included: where damage can matter.
func usedPages(t *testing.T, path string) (pageSize int, used []int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, BoltOptions(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for id := 0; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				return err
			}
			if info == nil {
				return nil
			}
			if info.Type != "free" {
				used = append(used, id)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return db.Info().PageSize, used
}

func TestCheckFileAcceptsSoundFiles(t *testing.T) {
	dir := t.TempDir()
	if err := CheckFile(pagesOutbox(t, dir, 300)); err != nil {
		t.Fatalf("a sound outbox: %v", err)
	}

	// What the outbox does not make but bbolt does: nested and inline
	// buckets, values over a page (overflow pages), a freelist page (a
	// file written without NoFreelistSync), many deletions.
	for _, noSync := range []bool{true, false} {
		path := filepath.Join(dir, fmt.Sprintf("bolt-%v.db", noSync))
		db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			top, err := tx.CreateBucket([]byte("top"))
			if err != nil {
				return err
			}
			for i := 0; i < 50; i++ {
				sub, err := top.CreateBucket([]byte(fmt.Sprintf("sub%03d", i)))
				if err != nil {
					return err
				}
				for j := 0; j < i*3; j++ { // small ones stay inline
					if err := sub.Put(u64(uint64(j)), bytes.Repeat([]byte{byte(j)}, 10+j*7)); err != nil {
						return err
					}
				}
				deep, err := sub.CreateBucket([]byte("deep"))
				if err != nil {
					return err
				}
				if err := deep.Put([]byte("k"), []byte("v")); err != nil {
					return err
				}
				_ = sub.SetSequence(uint64(i))
			}
			big, err := tx.CreateBucket([]byte("big"))
			if err != nil {
				return err
			}
			for i := 0; i < 20; i++ {
				if err := big.Put([]byte{byte('a' + i)}, bytes.Repeat([]byte{1}, 5000+i*1000)); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			err = db.Update(func(tx *bolt.Tx) error {
				top := tx.Bucket([]byte("top"))
				for i := 0; i < 50; i += 3 {
					if err := top.DeleteBucket([]byte(fmt.Sprintf("sub%03d", i))); err != nil {
						return err
					}
				}
				return tx.Bucket([]byte("big")).Delete([]byte("c"))
			})
		}
		if err == nil {
			err = db.View(func(tx *bolt.Tx) error {
				for e := range tx.Check() {
					return e
				}
				return nil
			})
		}
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckFile(path); err != nil {
			t.Errorf("a sound bbolt file (NoFreelistSync %v): %v", noSync, err)
		}
	}

	// A missing file is not damage.
	err := CheckFile(filepath.Join(dir, "absent.db"))
	if err == nil || errors.Is(err, ErrDamaged) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// TestCheckFileRefusesWhatBboltCannotOpen damages a real outbox many ways
// (bit flips in used pages, truncation) and requires, for every file,
// that CheckFile refuses it or bbolt opens and reads it whole without a
// panic or a fault. Without CheckFile the same files crash bbolt: the
// test counts those among the refused ones, and fails if there are none,
// so it shows the check is what keeps the plugin up.
func TestCheckFileRefusesWhatBboltCannotOpen(t *testing.T) {
	dir := t.TempDir()
	src := pagesOutbox(t, dir, 600)
	base, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	pageSize, used := usedPages(t, src)
	if len(used) < 20 || len(used) >= len(base)/pageSize {
		t.Fatalf("want a file with many used pages and some free ones: %d used of %d", len(used), len(base)/pageSize)
	}

	type sample struct {
		kind, path, refusal string
	}
	var samples []sample
	write := func(kind, name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{kind: kind, path: p})
	}
	seeds := uint64(600) // SMARTRETAIL_PAGES_SEEDS runs more, for a long hunt
	if n, err := strconv.ParseUint(os.Getenv("SMARTRETAIL_PAGES_SEEDS"), 10, 64); err == nil {
		seeds = n
	}
	for seed := uint64(0); seed < seeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 9))
		flips := 1 + int(seed%4)
		data := bytes.Clone(base)
		for range flips {
			pg := used[r.IntN(len(used))]
			off := pg*pageSize + r.IntN(pageSize)
			data[off] ^= 1 << r.IntN(8)
		}
		write(fmt.Sprintf("%d-bit flip", flips), fmt.Sprintf("flip-%d-seed-%d.db", flips, seed), data)
	}
	sizes := []int{8 << 10, 16 << 10, 24 << 10, 1, 100, 4095, 4096, 4097, 12 << 10, len(base) - 1, len(base) - pageSize, len(base) / 2, len(base)/2 + 123}
	for p := 32 << 10; p < len(base); p += 20 * pageSize {
		sizes = append(sizes, p)
	}
	for _, n := range sizes {
		if n > 0 && n < len(base) {
			write("truncation", fmt.Sprintf("trunc-%d.db", n), base[:n])
		}
	}

	for i := range samples {
		err := CheckFile(samples[i].path)
		switch {
		case errors.Is(err, ErrDamaged):
			samples[i].refusal = err.Error()
			if !strings.Contains(err.Error(), "is damaged") || !strings.Contains(err.Error(), samples[i].path) {
				t.Errorf("%s: the refusal does not say the outbox is damaged: %v", samples[i].path, err)
			}
		case err != nil:
			t.Errorf("%s: an error that is not ErrDamaged: %v", samples[i].path, err)
		}
	}
	// bbolt opens every accepted file in a child, and the first refused
	// ones too, enough to show that they crash it (a crash costs a new
	// child: all of them would make the test slow).
	var files []string
	var opened []int
	refusedRun := 0
	for i, s := range samples {
		if s.refusal != "" && !strings.Contains(s.path, "trunc-") {
			if refusedRun++; refusedRun > 40 {
				continue
			}
		}
		files = append(files, s.path)
		opened = append(opened, i)
	}
	openedOK, deaths := boltOpensAll(t, files)
	survived := make([]bool, len(samples))
	tried := make([]bool, len(samples))
	for j, i := range opened {
		survived[i], tried[i] = openedOK[j], true
	}

	type tally struct{ files, refused, triedRefused, crashesRefused int }
	kinds := map[string]*tally{}
	var order []string
	for i, s := range samples {
		k := kinds[s.kind]
		if k == nil {
			k = &tally{}
			kinds[s.kind] = k
			order = append(order, s.kind)
		}
		k.files++
		if s.refusal != "" {
			k.refused++
			if tried[i] {
				k.triedRefused++
				if !survived[i] {
					k.crashesRefused++
				}
			}
		} else if !survived[i] {
			t.Errorf("%s (%s): CheckFile accepted it and bbolt crashed on it", filepath.Base(s.path), s.kind)
		}
	}
	crashes := 0
	for _, kind := range order {
		k := kinds[kind]
		crashes += k.crashesRefused
		t.Logf("%-11s %4d files, %4d refused by CheckFile (of %d of them opened anyway, %d crash bbolt), %4d accepted and opened whole",
			kind, k.files, k.refused, k.triedRefused, k.crashesRefused, k.files-k.refused)
	}
	// A cut into the pages in use is refused; a cut of the room bbolt
	// keeps past them (it grows the file ahead) loses nothing.
	bf, err := openBoltFile(src, false)
	if err != nil {
		t.Fatal(err)
	}
	inUse := int(bf.pages) * bf.pageSize
	bf.Close()
	for _, s := range samples {
		n, ok := strings.CutPrefix(filepath.Base(s.path), "trunc-")
		if !ok {
			continue
		}
		size, _ := strconv.Atoi(strings.TrimSuffix(n, ".db"))
		if (size < inUse) != (s.refusal != "") {
			t.Errorf("truncated to %d bytes of %d in use: refusal %q", size, inUse, s.refusal)
		}
	}
	for _, n := range []int{8 << 10, 16 << 10, 24 << 10} {
		for i, s := range samples {
			if strings.HasSuffix(s.path, fmt.Sprintf("trunc-%d.db", n)) && survived[i] {
				t.Errorf("bbolt survived a truncation to %d bytes: the harness does not see crashes", n)
			}
		}
	}
	if crashes == 0 {
		t.Error("no file crashed bbolt: the damage does not reproduce the issue, so the test proves nothing")
	}
	t.Logf("child deaths (all on refused files): %d, e.g. %s", len(deaths), strings.Join(deaths[:min(3, len(deaths))], "; "))
}

// TestCheckFileErrors names the page and what is wrong for damage made on
// purpose, and never panics on files made of noise.
func TestCheckFileErrors(t *testing.T) {
	dir := t.TempDir()
	src := pagesOutbox(t, dir, 200)
	base, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	bf, err := openBoltFile(src, false)
	if err != nil {
		t.Fatal(err)
	}
	ps, root, metaPage := bf.pageSize, bf.meta.root, bf.metaPage
	bf.Close()

	check := func(name string, data []byte, want ...string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		err := CheckFile(p)
		if !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: want ErrDamaged, got %v", name, err)
			return
		}
		var de *DamageError
		if !errors.As(err, &de) || de.Path != p {
			t.Errorf("%s: not a DamageError for the file: %v", name, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q does not say %q", name, err, w)
			}
		}
	}
	set := func(f func(b []byte)) []byte { b := bytes.Clone(base); f(b); return b }
	rootOff := int(root) * ps

	check("empty.db", nil, "empty")
	check("trunc.db", base[:24<<10], "truncated")
	check("root-id.db", set(func(b []byte) { b[rootOff] ^= 1 }), fmt.Sprintf("page %d", root), "says it is page")
	check("root-type.db", set(func(b []byte) { binary.NativeEndian.PutUint16(b[rootOff+8:], flagFreelist) }), fmt.Sprintf("page %d", root), "freelist page where a branch or leaf")
	check("root-count.db", set(func(b []byte) {
		binary.NativeEndian.PutUint16(b[rootOff+10:], binary.NativeEndian.Uint16(b[rootOff+10:])-1)
	}), "element 0's data is at byte")
	check("metas.db", set(func(b []byte) { b[16+8] ^= 1; b[ps+16+8] ^= 1 }), "neither meta page is valid", "checksum")
	// Only the meta in use damaged: bbolt falls back to the other one,
	// the commit before, which is whole (what a torn meta write leaves).
	fallback := set(func(b []byte) { b[int(metaPage)*ps+16+60] ^= 1 })
	if err := CheckFile(writeTemp(t, dir, "one-meta.db", fallback)); err != nil {
		t.Errorf("one meta damaged: bbolt uses the other, so must the check: %v", err)
	}

	// A freelist page that lists a page of the tree.
	db, err := bolt.Open(filepath.Join(dir, "fl.db"), 0o600, &bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte("b"))
		for i := 0; i < 400; i++ {
			_ = b.Put(u64(uint64(i)), make([]byte, 100))
		}
		return nil
	})
	_ = db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("b")).Delete(u64(7)) })
	db.Close()
	fl, _ := os.ReadFile(filepath.Join(dir, "fl.db"))
	fbf, err := openBoltFile(filepath.Join(dir, "fl.db"), false)
	if err != nil {
		t.Fatal(err)
	}
	flPage, flRoot := fbf.meta.freelist, fbf.meta.root
	fbf.Close()
	if flPage == noFreelist {
		t.Fatal("bbolt without NoFreelistSync wrote no freelist page")
	}
	off := int(flPage)*4096 + pageHeaderSize
	if binary.NativeEndian.Uint16(fl[int(flPage)*4096+10:]) == 0 {
		t.Fatal("want a freelist with entries")
	}
	binary.NativeEndian.PutUint64(fl[off:], flRoot)
	check("freelist.db", fl, fmt.Sprintf("freelist page %d", flPage), "in use")

	// Noise: random files of a few pages, with valid meta pages so the
	// walk is reached, must give an error and no panic.
	for seed := uint64(0); seed < 300; seed++ {
		r := rand.New(rand.NewPCG(seed, 3))
		data := make([]byte, 4096*(3+r.IntN(6)))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		if seed%2 == 0 { // sometimes a plausible page header at the root
			binary.NativeEndian.PutUint64(data[2*4096:], 2)
			binary.NativeEndian.PutUint16(data[2*4096+8:], uint16(1+seed%2))
			binary.NativeEndian.PutUint16(data[2*4096+10:], uint16(r.IntN(5)))
			binary.NativeEndian.PutUint32(data[2*4096+12:], 0)
		}
		for i := 0; i < 2; i++ {
			m := data[i*4096+16:]
			ne.PutUint32(m[0:], boltMagic)
			ne.PutUint32(m[4:], boltVersion)
			ne.PutUint32(m[8:], 4096)
			ne.PutUint64(m[16:], 2)
			ne.PutUint64(m[32:], noFreelist)
			ne.PutUint64(m[40:], uint64(len(data)/4096))
			meta, _ := parseMeta(m)
			ne.PutUint64(m[56:], meta.sum)
		}
		p := writeTemp(t, dir, "noise.db", data)
		if err := CheckFile(p); err != nil && !errors.Is(err, ErrDamaged) {
			t.Fatalf("noise seed %d: %v", seed, err)
		}
	}
}

func writeTemp(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// BenchmarkCheckFile100k is the cost CheckFile adds to every open, on an
// outbox of 100,000 orders (and their events): go test -run '^$'
// -bench CheckFile ./plugin/outbox/
func BenchmarkCheckFile100k(b *testing.B) {
	path := pagesOutboxBig(b, b.TempDir(), 100_000)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := CheckFile(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
}

// BenchmarkOpen100k is what CheckFile adds to: opening that outbox (bbolt
// rebuilds its freelist, the Store reads every record).
func BenchmarkOpen100k(b *testing.B) {
	path := pagesOutboxBig(b, b.TempDir(), 100_000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := Open(Options{Path: path})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

// pagesOutboxBig writes n queued orders and their events, 1,000 to a commit.
func pagesOutboxBig(b testing.TB, dir string, n int) string {
	path := filepath.Join(dir, "outbox.db")
	s, err := Open(Options{Path: path})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < n; i += 1000 {
		err := s.update(func(tx *Tx) error {
			for j := i; j < min(i+1000, n); j++ {
				o := newOrder(fmt.Sprintf("K17-%07d", j), 20000)
				seq, err := tx.tx.Bucket(bucketOrders).NextSequence()
				if err != nil {
					return err
				}
				o.Seq, o.StoredAt = seq, time.Unix(1764000000+int64(j), 0)
				if err := tx.put(o.OutOrderNo, nil, o); err != nil {
					return err
				}
				if err := tx.appendEvent(Event{Type: EventOrderQueued, OutOrderNo: o.OutOrderNo}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return path
}
