package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"weak"
)

func userStateURL(srv *Server, openid string) string {
	c := srv.Credentials
	return srv.URL + "/v3/payscore/user-service-state?" + url.Values{
		"service_id": {c.ServiceID}, "appid": {c.AppID}, "openid": {openid}}.Encode()
}

func adminUserState(t *testing.T, srv *Server, method, openid, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+"/sandbox/users/"+url.PathEscape(openid)+"/service-state", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("admin answer %q: %v", raw, err)
	}
	return res.StatusCode, m
}

// The answer has WeChat Pay's fields and no others: no mchid.
func TestUserServiceStateAnswersAsWeChatPay(t *testing.T) {
	srv := startServer(t, Options{})
	cl := pubKeyClient(t, srv.Credentials)
	res, err := cl.Get(context.Background(), userStateURL(srv, "oUser1"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"appid": srv.Credentials.AppID, "service_id": srv.Credentials.ServiceID,
		"openid": "oUser1", "use_service_state": "AVAILABLE"}
	if got := decode(t, res); !reflect.DeepEqual(got, want) {
		t.Errorf("answer %v, want exactly %v", got, want)
	}
}

func TestAnOpenIDCanBeMarkedUnavailable(t *testing.T) {
	srv := startServer(t, Options{})
	cl := pubKeyClient(t, srv.Credentials)
	state := func(openid string) any {
		t.Helper()
		res, err := cl.Get(context.Background(), userStateURL(srv, openid))
		if err != nil {
			t.Fatal(err)
		}
		return decode(t, res)["use_service_state"]
	}

	// The Go API.
	if err := srv.Sandbox.SetUserServiceState("oGone", UserServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	if got := state("oGone"); got != "UNAVAILABLE" {
		t.Errorf("after SetUserServiceState UNAVAILABLE: %v", got)
	}
	if got := state("oOther"); got != "AVAILABLE" {
		t.Errorf("another openid: %v, want AVAILABLE", got)
	}
	if err := srv.Sandbox.SetUserServiceState("oGone", UserServiceAvailable); err != nil {
		t.Fatal(err)
	}
	if got := state("oGone"); got != "AVAILABLE" {
		t.Errorf("after SetUserServiceState AVAILABLE: %v", got)
	}

	// The admin API.
	code, m := adminUserState(t, srv, http.MethodPut, "oAdmin", `{"use_service_state":"UNAVAILABLE"}`)
	if code != http.StatusOK || m["use_service_state"] != "UNAVAILABLE" || m["openid"] != "oAdmin" {
		t.Fatalf("PUT: %d %v", code, m)
	}
	if got := state("oAdmin"); got != "UNAVAILABLE" {
		t.Errorf("after PUT UNAVAILABLE: %v", got)
	}
	if code, m := adminUserState(t, srv, http.MethodGet, "oAdmin", ""); code != http.StatusOK || m["use_service_state"] != "UNAVAILABLE" {
		t.Errorf("GET: %d %v", code, m)
	}
	if code, _ := adminUserState(t, srv, http.MethodPut, "oAdmin", `{"use_service_state":"AVAILABLE"}`); code != http.StatusOK {
		t.Fatalf("PUT AVAILABLE: %d", code)
	}
	if got := state("oAdmin"); got != "AVAILABLE" {
		t.Errorf("after PUT AVAILABLE: %v", got)
	}

	// One sandbox's states are its own.
	other := startServer(t, Options{})
	if err := srv.Sandbox.SetUserServiceState("oShared", UserServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	if got := other.Sandbox.UserServiceState("oShared"); got != UserServiceAvailable {
		t.Errorf("another sandbox sees %s", got)
	}
}

func TestAdminUserStateRefusesBadBodies(t *testing.T) {
	srv := startServer(t, Options{})
	for _, tc := range []struct {
		name, body, want string
	}{
		{"other value", `{"use_service_state":"MAYBE"}`, `use_service_state "MAYBE": want AVAILABLE or UNAVAILABLE`},
		{"lower case", `{"use_service_state":"unavailable"}`, `use_service_state "unavailable"`},
		{"missing", `{}`, "use_service_state is required"},
		{"wrong type", `{"use_service_state":1}`, "field use_service_state has the wrong type"},
		{"unknown field", `{"use_service_state":"UNAVAILABLE","state":"x"}`, `unknown field "state"`},
		{"not an object", `"UNAVAILABLE"`, "must be a JSON object"},
		{"trailing data", `{"use_service_state":"UNAVAILABLE"} {}`, "trailing data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, m := adminUserState(t, srv, http.MethodPut, "oBad", tc.body)
			msg, _ := m["message"].(string)
			if code != http.StatusBadRequest || m["code"] != "PARAM_ERROR" || !strings.Contains(msg, tc.want) {
				t.Errorf("got %d %v, want 400 PARAM_ERROR with %q", code, m, tc.want)
			}
			if got := srv.Sandbox.UserServiceState("oBad"); got != UserServiceAvailable {
				t.Errorf("a refused PUT changed the state to %s", got)
			}
		})
	}
	long := strings.Repeat("o", maxOpenID+1)
	if code, m := adminUserState(t, srv, http.MethodPut, long, `{"use_service_state":"UNAVAILABLE"}`); code != http.StatusBadRequest ||
		!strings.Contains(m["message"].(string), "openid must be at most 128 characters") {
		t.Errorf("long openid: %d %v", code, m)
	}
	if code, _ := adminUserState(t, srv, http.MethodPost, "oBad", `{"use_service_state":"UNAVAILABLE"}`); code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", code)
	}
	if err := srv.Sandbox.SetUserServiceState("", UserServiceUnavailable); err == nil || !strings.Contains(err.Error(), "openid is required") {
		t.Errorf("empty openid: %v", err)
	}
	if err := srv.Sandbox.SetUserServiceState("o1", "unavailable"); err == nil || !strings.Contains(err.Error(), "use_service_state") {
		t.Errorf("bad state: %v", err)
	}
}

// The openid is checked like a create's, and never echoed back.
func TestUserServiceStateOpenIDBound(t *testing.T) {
	srv := startServer(t, Options{})
	cl := pubKeyClient(t, srv.Credentials)
	long := strings.Repeat("p", maxOpenID+1)
	_, err := cl.Get(context.Background(), userStateURL(srv, long))
	e := apiErr(t, err, http.StatusBadRequest, "PARAM_ERROR")
	if d := detailOf(t, e); d["field"] != "/openid" || d["location"] != "query" || d["value"] != nil {
		t.Errorf("detail %v", d)
	}
	if strings.Contains(e.Body, long[:maxOpenID]) {
		t.Errorf("the answer echoes the openid: %s", e.Body)
	}
	if _, err := cl.Get(context.Background(), userStateURL(srv, long[:maxOpenID])); err != nil {
		t.Errorf("an openid of %d characters: %v", maxOpenID, err)
	}
}

func TestSetUserServiceStateAfterClose(t *testing.T) {
	s, err := New(Options{Credentials: testCreds(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.SetUserServiceState("o1", UserServiceUnavailable); err != ErrClosed {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

// A collected sandbox takes its states with it.
func TestUserStatesGoWithTheirSandbox(t *testing.T) {
	s, err := New(Options{Credentials: testCreds(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserServiceState("o1", UserServiceUnavailable); err != nil {
		t.Fatal(err)
	}
	key := weak.Make(s)
	s = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		userStates.Lock()
		_, held := userStates.m[key]
		userStates.Unlock()
		if !held {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the states of a collected sandbox are still held")
		}
		runtime.Gosched()
	}
}
