package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 9 item 10: Listen used to open (and compact) the folder's order log
// before binding, so a sandbox whose bind failed had already replaced the
// running one's orders.jsonl.
func TestListenBindsBeforeTouchingTheFolder(t *testing.T) {
	dir := t.TempDir()
	creds := testCreds(t)
	first := startServer(t, Options{Dir: dir, Credentials: creds})
	cl := pubKeyClient(t, creds)
	sdkCreate(t, cl, first, "bind-1")
	path := filepath.Join(dir, OrdersFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)

	second, err := Listen(first.Listener.Addr().String(), Options{Dir: dir, Credentials: creds})
	if err == nil {
		second.Close()
		t.Fatal("a second sandbox listened on a busy address")
	}
	if st2, err := os.Stat(path); err != nil || !os.SameFile(st, st2) {
		t.Fatalf("%s was replaced (%v)", OrdersFile, err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, data) {
		t.Fatalf("%s was rewritten", OrdersFile)
	}

	sdkCreate(t, cl, first, "bind-2")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again := startServer(t, Options{Dir: dir, Credentials: creds})
	if n := len(again.Sandbox.Orders()); n != 2 {
		t.Fatalf("%d orders after the restart, want 2", n)
	}
}

// A failed bind in a new folder creates nothing there.
func TestListenFailedBindCreatesNothing(t *testing.T) {
	busy := startServer(t, Options{})
	dir := filepath.Join(t.TempDir(), "new")
	if srv, err := Listen(busy.Listener.Addr().String(), Options{Dir: dir, Credentials: testCreds(t)}); err == nil {
		srv.Close()
		t.Fatal("listened on a busy address")
	} else if !strings.Contains(err.Error(), busy.Listener.Addr().String()) {
		t.Errorf("error does not name the address: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s exists after a failed bind: %v", dir, err)
	}
}

// A second sandbox on a held folder is refused at once, naming the folder
// and the holder, and leaves the holder's order log alone.
func TestSecondSandboxOnFolderIsRefused(t *testing.T) {
	dir := t.TempDir()
	creds := testCreds(t)
	first, err := New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	createDirect(t, first, "lock-1")
	path := filepath.Join(dir, OrdersFile)
	st, _ := os.Stat(path)

	_, err = New(Options{Dir: dir, Credentials: creds})
	var inUse *DirInUseError
	if !errors.As(err, &inUse) || inUse.Dir != dir || inUse.PID != os.Getpid() {
		t.Fatalf("second New on a held folder: %v, want a DirInUseError for %s, pid %d", err, dir, os.Getpid())
	}
	for _, want := range []string{dir, fmt.Sprintf("pid %d", os.Getpid()), "in use"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if st2, err := os.Stat(path); err != nil || !os.SameFile(st, st2) {
		t.Fatalf("the refused sandbox replaced %s (%v)", OrdersFile, err)
	}
	createDirect(t, first, "lock-2") // the holder still writes to the file at the path

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := New(Options{Dir: dir, Credentials: creds})
	if err != nil {
		t.Fatalf("after Close the folder is still refused: %v", err)
	}
	defer again.Close()
	if n := len(again.Orders()); n != 2 {
		t.Fatalf("%d orders, want 2", n)
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Fatalf("the lock file: %v", err)
	}
}

// A New that fails after locking (a corrupt log) lets the folder go.
func TestFailedNewReleasesTheFolder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, OrdersFile), []byte("{garbage\n{}\n"), 0o600)
	for range 2 {
		_, err := New(Options{Dir: dir, Credentials: testCreds(t)})
		if err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Fatalf("want the corrupt-line error both times, got %v", err)
		}
	}
}

// A lock taken on a lock file that was replaced before the lock landed is
// on a file nobody else will open: the sandbox must lock the file now at
// the path instead.
func TestLockFollowsTheFileAtThePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, LockFile)
	replaced := 0
	afterLockOpen = func(p string) {
		if replaced == 0 {
			replaced++
			if err := os.Rename(p, p+".old"); err != nil {
				t.Error(err)
			}
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(func() { afterLockOpen = nil })
	sb, err := New(Options{Dir: dir, Credentials: testCreds(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	afterLockOpen = nil
	if replaced != 1 {
		t.Fatal("the lock file was not replaced")
	}
	held, _ := sb.lock.f.Stat()
	at, _ := os.Stat(path)
	if !os.SameFile(held, at) {
		t.Fatal("the sandbox holds a lock on a file that is no longer at the path")
	}
	var inUse *DirInUseError
	if _, err := New(Options{Dir: dir, Credentials: testCreds(t)}); !errors.As(err, &inUse) {
		t.Fatalf("a second sandbox was not refused: %v", err)
	}
}

func TestDirInUseErrorWithoutPID(t *testing.T) {
	msg := (&DirInUseError{Dir: "/x/sbx"}).Error()
	if !strings.Contains(msg, "/x/sbx") || strings.Contains(msg, "pid") {
		t.Fatalf("%q", msg)
	}
}

// ListenDir makes its credentials under the folder's lock and reuses them.
func TestListenDirKeepsItsCredentials(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sbx")
	srv, err := ListenDir("127.0.0.1:0", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, CredentialsFile)); err != nil {
		t.Fatalf("no credentials written: %v", err)
	}
	var inUse *DirInUseError
	if _, err := ListenDir("127.0.0.1:0", Options{Dir: dir}); !errors.As(err, &inUse) {
		t.Fatalf("second ListenDir: %v", err)
	}
	mchID := srv.Credentials.MchID
	srv.Close()
	again, err := ListenDir("127.0.0.1:0", Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if again.Credentials.MchID != mchID {
		t.Fatal("a restart generated new credentials")
	}
	if _, err := ListenDir("127.0.0.1:0", Options{}); err == nil {
		t.Fatal("ListenDir without a Dir")
	}
}
