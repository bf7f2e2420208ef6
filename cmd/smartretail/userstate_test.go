package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/host"
	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
	v1 "github.com/kioskpay/smartretail/shared/proto/smartretail/v1"
)

const testOpenID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"

// hasOpenID says whether s holds the openid, raw or URL-encoded.
func hasOpenID(s, openid string) bool {
	return strings.Contains(s, openid) || strings.Contains(s, url.QueryEscape(openid))
}

func TestUserStateCommand(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)
	state := func() string {
		t.Helper()
		code, out, errOut := runCLI(t, "", "user-state", "--config", cfg, "--openid", testOpenID, "-v")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var got map[string]string
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("printed %q: %v", out, err)
		}
		if got["appid"] != srv.Credentials.AppID || got["service_id"] != srv.Credentials.ServiceID || got["openid"] != testOpenID || len(got) != 4 {
			t.Errorf("printed %s", out)
		}
		if hasOpenID(errOut, testOpenID) {
			t.Errorf("the openid reached the log:\n%s", errOut)
		}
		return got["use_service_state"]
	}
	if got := state(); got != "AVAILABLE" {
		t.Errorf("use_service_state %q, want AVAILABLE", got)
	}
	if err := srv.Sandbox.SetUserServiceState(testOpenID, sandbox.UserServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	if got := state(); got != "UNAVAILABLE" {
		t.Errorf("use_service_state %q, want UNAVAILABLE", got)
	}
}

func TestUserStateCommandErrors(t *testing.T) {
	srv := testkit.Start(t, sandbox.Options{})
	cfg, _ := srv.ConfigFile(t)
	if code, _, errOut := runCLI(t, "", "user-state", "--config", cfg); code != exitUsage || !strings.Contains(errOut, "--openid is required") {
		t.Errorf("no --openid: exit %d, %s", code, errOut)
	}

	long := strings.Repeat("o", 129)
	code, _, errOut := runCLI(t, "", "user-state", "--config", cfg, "--openid", long, "-v")
	var e struct {
		Error struct {
			Class, Field string
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(errorJSON(errOut)), &e); err != nil || code != 1 || e.Error.Class != "INVALID" || e.Error.Field != "openid" {
		t.Errorf("long openid: exit %d, %s", code, errOut)
	}
	if strings.Contains(errOut, long) {
		t.Errorf("the error quotes the openid: %s", errOut)
	}

	// No answer: the error, and the plugin's log of the network going
	// down, carry the failure but not the openid.
	srv.Sandbox.SetFaults(sandbox.Faults{Mode: sandbox.FaultOffline})
	code, _, errOut = runCLI(t, "", "user-state", "--config", cfg, "--openid", testOpenID, "-v")
	if err := json.Unmarshal([]byte(errorJSON(errOut)), &e); err != nil || code != 1 || e.Error.Class != "NETWORK" {
		t.Errorf("offline: exit %d, %s", code, errOut)
	}
	if hasOpenID(errOut, testOpenID) {
		t.Errorf("the openid is on stderr:\n%s", errOut)
	}
}

// errorJSON is the error object a command prints on stderr, among the
// plugin's log lines: from a line "{" to the next line "}".
func errorJSON(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if l != "{" {
			continue
		}
		for j := i + 1; j < len(lines); j++ {
			if lines[j] == "}" {
				return strings.Join(lines[i:j+1], "\n")
			}
		}
	}
	return ""
}

// The host library's call goes through the plugin's life cycle (start,
// restart once, closed) like every other call.
func TestHostUserServiceStateAfterClose(t *testing.T) {
	cfg, _ := testkit.Start(t, sandbox.Options{}).ConfigFile(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path, _, err := findPlugin(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	c, err := host.Start(ctx, host.Options{PluginPath: path, ConfigPath: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetUserServiceState(ctx, &v1.GetUserServiceStateRequest{Openid: testOpenID}); err != nil || got.GetUseServiceState() != "AVAILABLE" {
		t.Fatalf("%v, %v", got, err)
	}
	c.Close()
	if _, err := c.GetUserServiceState(ctx, &v1.GetUserServiceStateRequest{Openid: testOpenID}); !errors.Is(err, host.ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}
