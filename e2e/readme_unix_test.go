//go:build unix

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's CLI section runs as written: its install block from the
// repo's root, then its walkthrough, line by line in a fresh folder, each
// line exiting 0 and printing what its "# →" comment shows. The block is
// read from README.md, so the two cannot drift apart.
func TestTheREADMEsCLISectionRunsAsWritten(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	start := strings.Index(section, "\n## The CLI\n")
	if start < 0 {
		t.Fatal("README.md has no \"## The CLI\" section")
	}
	section = section[start:]
	install := codeBlock(t, section, "")
	walk := codeBlock(t, section, "<!-- readme-cli-walkthrough -->")

	repo, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	bin, work := t.TempDir(), t.TempDir()
	// The binaries the install block makes come first on PATH, and the go
	// command that runs this test is there too.
	env := append(os.Environ(), "GOBIN="+bin,
		"PATH="+bin+string(os.PathListSeparator)+filepath.Dir(goTool())+string(os.PathListSeparator)+os.Getenv("PATH"))
	for _, line := range install {
		runLine(t, repo, env, line)
	}
	for _, line := range walk {
		runLine(t, work, env, line)
	}
}

// codeBlock is the lines of the first ```sh block after marker (the
// section's first when marker is empty).
func codeBlock(t *testing.T, text, marker string) []string {
	t.Helper()
	if marker != "" {
		i := strings.Index(text, marker)
		if i < 0 {
			t.Fatalf("README.md has no %s", marker)
		}
		text = text[i:]
	}
	i := strings.Index(text, "```sh\n")
	if i < 0 {
		t.Fatalf("no ```sh block after %q", marker)
	}
	text = text[i+len("```sh\n"):]
	text = text[:strings.Index(text, "```")]
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// comment splits a line's command from its comment (two or more spaces,
// then #).
var comment = regexp.MustCompile(`\s{2,}#\s?`)

func runLine(t *testing.T, dir string, env []string, line string) {
	t.Helper()
	cmdText, want := line, ""
	if loc := comment.FindStringIndex(line); loc != nil {
		cmdText = strings.TrimSpace(line[:loc[0]])
		if c := line[loc[1]:]; strings.HasPrefix(c, "→ ") {
			want = strings.TrimSpace(strings.TrimPrefix(c, "→ "))
		}
	}
	if strings.HasSuffix(cmdText, "&") {
		runInBackground(t, dir, env, strings.TrimSuffix(cmdText, "&"), want)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", cmdText)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Fatalf("%s\n  failed: %v\n  stdout: %s\n  stderr: %s", cmdText, err, stdout.String(), stderr.String())
	}
	if want != "" && !strings.Contains(stdout.String(), want) {
		t.Fatalf("%s\n  printed no %q:\n%s\n  stderr: %s", cmdText, want, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 && !strings.HasPrefix(cmdText, "go ") {
		t.Errorf("%s\n  wrote to stderr on success: %s", cmdText, stderr.String())
	}
}

// runInBackground starts a line ending in & and waits for want on its
// stdout; the process group is killed when the test ends.
func runInBackground(t *testing.T, dir string, env []string, cmdText, want string) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "exec "+cmdText)
	cmd.Dir, cmd.Env = dir, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	seen := make(chan bool, 1)
	go func() {
		s := bufio.NewScanner(out)
		found := false
		for s.Scan() {
			if !found && strings.Contains(s.Text(), want) {
				found = true
				seen <- true
			}
		}
		if !found {
			seen <- false
		}
	}()
	select {
	case ok := <-seen:
		if !ok {
			t.Fatalf("%s ended without printing %q: %s", cmdText, want, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s printed no %q within 20 s: %s", cmdText, want, stderr.String())
	}
}
