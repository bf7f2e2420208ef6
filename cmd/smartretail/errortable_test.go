package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioskpay/smartretail/internal/testkit"
	"github.com/kioskpay/smartretail/sandbox"
)

// readmeRow is one row of the README's error tables: the plugin's (a class
// and its gRPC code) or the CLI's own (a class and its exit code).
type readmeRow struct {
	class string
	code  string // the gRPC code's name as the README writes it; "" in the CLI's table
	exit  int
	when  string
}

func (r readmeRow) String() string {
	return fmt.Sprintf("%s %s (exit %d): %.70s", r.class, r.code, r.exit, r.when)
}

// readmeErrorRows reads the rows of the two tables in README.md's ## Errors.
// The plugin's classes exit 1, as the text between the tables says; the
// CLI's table gives each class its exit code.
func readmeErrorRows(t *testing.T) []readmeRow {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(data), "\n## Errors\n")
	if !ok {
		t.Fatal("README.md has no ## Errors")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	if !strings.Contains(strings.Join(strings.Fields(section), " "), "exits 0 on success, 1 for every class of the table above") {
		t.Fatal("README.md's ## Errors no longer says the plugin's classes exit 1: this test reads that")
	}
	var rows []readmeRow
	var header []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = nil
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case header == nil:
			header = cells
			continue
		case strings.Trim(cells[0], "- ") == "":
			continue // the line under the header
		case len(cells) != len(header) || len(cells) < 3:
			t.Fatalf("README error table row %q has %d cells, its header %d", line, len(cells), len(header))
		}
		class := strings.Trim(cells[0], "`")
		row := readmeRow{class: class, when: cells[2]}
		switch header[1] {
		case "gRPC code":
			row.code, row.exit = strings.Trim(cells[1], "`"), 1
		case "exit":
			n, err := strconv.Atoi(strings.TrimPrefix(cells[1], "exit "))
			if err != nil {
				t.Fatalf("README error table row %q: exit %q", line, cells[1])
			}
			row.exit = n
		default:
			t.Fatalf("README error table with columns %q: this test reads class | gRPC code | when or class | exit | when", header)
		}
		if !regexp.MustCompile(`^[A-Z][A-Z_]*$`).MatchString(class) {
			t.Fatalf("README error table row %q: class %q", line, class)
		}
		rows = append(rows, row)
	}
	if len(rows) < 10 {
		t.Fatalf("read %d rows from README.md's error tables: the tables changed shape", len(rows))
	}
	return rows
}

// namedCodes are the upper-case names a row's "when" gives in backquotes:
// WeChat Pay's codes and the errors' reasons (ORDER_STATE_<state> a pattern).
// A class named there (the Go host reports INVALID) is not one.
func namedCodes(when string, rows []readmeRow) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([A-Z][A-Z0-9_]*(?:<state>)?)`").FindAllStringSubmatch(when, -1) {
		class := false
		for _, r := range rows {
			class = class || r.class == m[1]
		}
		if !class {
			out = append(out, m[1])
		}
	}
	return out
}

// covers says whether a printed reason or WeChat Pay code is the name a row
// gives: the name itself, an instance of ORDER_STATE_<state>, or a name
// holding it (ORDER_STATE_FINISHED holds the state FINISHED).
func covers(printed, name string) bool {
	if printed == "" {
		return false
	}
	if p, ok := strings.CutSuffix(name, "<state>"); ok {
		return regexp.MustCompile(`^` + regexp.QuoteMeta(p) + `[A-Z_]+$`).MatchString(printed)
	}
	return printed == name || regexp.MustCompile(`(^|_)`+regexp.QuoteMeta(name)+`($|_)`).MatchString(printed)
}

// errorCase produces one row's error through the CLI.
type errorCase struct {
	name string
	// row is a piece of the README row's "when" that no other row's holds.
	row string
	// Wanted in the printed error besides the row's class, code and exit.
	reason, wechatCode, field string
	reachedServer             bool
	run                       func(t *testing.T) (exit int, stdout, stderr string)
}

// notThroughTheCLI are the rows no command line can produce: why, and the
// test (its package's folder and name) that produces the error where it
// arises, if one does.
var notThroughTheCLI = []struct{ row, why, dir, test string }{
	{"`Configure` has not succeeded",
		"every command configures the plugin it starts before its call, and a failed Configure is that error instead; the admin socket serves only a configured plugin",
		"internal/plugin", "TestEveryRPCNeedsConfigureFirst"},
	{"reason `CONFIGURED_BY_HOST`",
		"the CLI never calls Configure on the admin socket: through it, it only inspects and administers",
		"internal/plugin", "TestAdminSocketServesAllButConfigure"},
	{"the outbox could not keep the order (disk)",
		"a disk failing under a running plugin cannot be caused from a command line; no test makes one fail (shared's TestErrorCrossesTheWireWhole only carries the class over gRPC)",
		"", ""},
	{"operation of the service-order API",
		"no command calls ModifyOrder, CollectPayment or SyncOrderPaid yet (they come with the service-order API)",
		"internal/plugin", "TestServiceOrderOnlyCallsAreUnsupportedOnSmartRetail"},
	{"the plugin failed; its log says why",
		"a plugin failing inside a call cannot be caused from a command line; no test makes one fail (shared's TestToStatusOfOtherErrors shows a plugin's own error arrives INTERNAL)",
		"", ""},
}

// Issue 13's Done-when: every error path in the README's error tables is
// produced through the CLI, and printed as one JSON error with the row's
// class, gRPC code and exit code (and the reason or WeChat Pay code the
// row names). The rows are read from README.md: a row added there without
// a case here, or without a reason here why no command line produces it,
// fails this test.
func TestEveryErrorInTheREADMEThroughTheCLI(t *testing.T) {
	rows := readmeErrorRows(t)
	cases := errorCases()

	rowOf := func(piece string) int {
		t.Helper()
		found := -1
		for i, r := range rows {
			if strings.Contains(r.when, piece) {
				if found >= 0 {
					t.Fatalf("%q is in two rows of the README's error tables: %v and %v", piece, rows[found], r)
				}
				found = i
			}
		}
		if found < 0 {
			t.Fatalf("no row of the README's error tables says %q", piece)
		}
		return found
	}
	claimed := make([]int, len(rows))
	excused := make([]bool, len(rows))
	for _, n := range notThroughTheCLI {
		excused[rowOf(n.row)] = true
		if n.test != "" && !testExists(t, n.dir, n.test) {
			t.Errorf("row %q: no test %s in %s", n.row, n.test, n.dir)
		}
	}
	rowOfCase := make([]int, len(cases))
	for k, c := range cases {
		i := rowOf(c.row)
		if excused[i] {
			t.Errorf("row %v is both produced (%s) and listed as not produced through the CLI", rows[i], c.name)
		}
		claimed[i]++
		rowOfCase[k] = i
	}
	for i, r := range rows {
		if claimed[i] == 0 && !excused[i] {
			t.Errorf("README row %v: no case produces it through the CLI", r)
		}
	}

	var mu sync.Mutex
	printed := map[int][]string{} // by row: the reasons and WeChat Pay codes printed
	t.Run("cases", func(t *testing.T) {
		for k, c := range cases {
			i := rowOfCase[k]
			row := rows[i]
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				exit, out, errOut := c.run(t)
				if out != "" {
					t.Errorf("stdout %q, want nothing", out)
				}
				e := oneError(t, errOut).Error
				if exit != row.exit || e.Class != row.class {
					t.Errorf("exit %d, class %s; the README's row %v says exit %d, class %s\n%s", exit, e.Class, row, row.exit, row.class, errOut)
				}
				if row.code != "" {
					if e.Code != row.code {
						t.Errorf("code %q; the README's row %v says %s\n%s", e.Code, row, row.code, errOut)
					}
				}
				if c.reason != "" && e.Reason != c.reason {
					t.Errorf("reason %q, want %q\n%s", e.Reason, c.reason, errOut)
				}
				if c.wechatCode != "" && e.WeChatCode != c.wechatCode {
					t.Errorf("wechat_code %q, want %q\n%s", e.WeChatCode, c.wechatCode, errOut)
				}
				if c.field != "" && e.Field != c.field {
					t.Errorf("field %q, want %q\n%s", e.Field, c.field, errOut)
				}
				if c.reachedServer && !e.ReachedServer {
					t.Errorf("reached_server false, want true\n%s", errOut)
				}
				if e.Message == "" {
					t.Errorf("no message\n%s", errOut)
				}
				mu.Lock()
				printed[i] = append(printed[i], e.Reason, e.WeChatCode)
				mu.Unlock()
			})
		}
	})
	// Each reason and WeChat Pay code a row names was printed by one of
	// its cases.
	for i, r := range rows {
		if excused[i] {
			continue
		}
		for _, name := range namedCodes(r.when, rows) {
			ok := false
			for _, p := range printed[i] {
				ok = ok || covers(p, name)
			}
			if !ok {
				t.Errorf("README row %v names %s, which no case printed (printed %q)", r, name, printed[i])
			}
		}
	}
}

// testExists says whether the package in dir (from the module's root) has
// a test function named name.
func testExists(t *testing.T, dir, name string) bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", dir, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "\nfunc "+name+"(t *testing.T)") {
			return true
		}
	}
	return false
}

// saleJSON is a create's request: out_order_no no, risk_amount risk, and
// extra fields (",..." or "").
func saleJSON(no string, risk int64, extra string) string {
	return fmt.Sprintf(`{"out_order_no":%q,"service_start_time":"OnAccept","service_start_location":"K-17","service_introduction":"无人零售柜","risk_amount":%d%s}`, no, risk, extra)
}

// queueable is what a sale needs to wait in the outbox: no confirmation
// online, and the customer's openid.
const queueable = `,"need_user_confirm":false,"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"`

func completeJSON(no string, amount int64) string {
	return fmt.Sprintf(`{"out_order_no":%q,"finish_type":2,"fees":[{"fee_name":"水","fee_count":1,"fee_amount":%d}],"total_amount":%d}`, no, amount, amount)
}

// mustCLI runs a command a case needs on the way, which must succeed.
func mustCLI(t *testing.T, stdin string, args ...string) {
	t.Helper()
	if code, out, errOut := runCLI(t, stdin, args...); code != 0 {
		t.Fatalf("%q: exit %d\n%s\n%s", args, code, out, errOut)
	}
}

func setFaults(t *testing.T, srv *testkit.Sandbox, mode string) {
	t.Helper()
	if err := srv.Sandbox.SetFaults(sandbox.Faults{Mode: mode}); err != nil {
		t.Fatal(err)
	}
}

// otherKeys is an RSA key pair that is neither the merchant's nor WeChat
// Pay's, as the config's key files take them.
var otherKeys = sync.OnceValues(func() (priv, pub []byte) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
})

// withKeyFile writes data beside the config file and names it in key.
func withKeyFile(t *testing.T, cfg, key string, data []byte) {
	t.Helper()
	path := filepath.Join(filepath.Dir(cfg), "other-"+key+".pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	withKey(t, cfg, key, path)
}

// signedAt is the time a WeChat Pay request was signed with (its
// Authorization header's timestamp).
func signedAt(r *http.Request) (time.Time, bool) {
	m := regexp.MustCompile(`timestamp="(\d+)"`).FindStringSubmatch(r.Header.Get("Authorization"))
	if m == nil {
		return time.Time{}, false
	}
	s, err := strconv.ParseInt(m[1], 10, 64)
	return time.Unix(s, 0), err == nil
}

func errorCases() []errorCase {
	fresh := func(t *testing.T, opts sandbox.Options) (*testkit.Sandbox, string) {
		srv := testkit.Start(t, opts)
		cfg, _ := srv.ConfigFile(t)
		return srv, cfg
	}
	// confirmed is an order made through the CLI and confirmed by its customer.
	confirmed := func(t *testing.T, srv *testkit.Sandbox, cfg, no string, risk int64) {
		mustCLI(t, saleJSON(no, risk, ""), "create", "--config", cfg)
		if err := srv.Sandbox.Accept(no); err != nil {
			t.Fatal(err)
		}
	}
	return []errorCase{
		{name: "a rule checked before sending", row: "a field breaks a rule", field: "order.fees[0].fee_amount",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				return runCLI(t, saleJSON("ET-RULE", 500, `,"fees":[{"fee_name":"水","fee_count":1,"fee_amount":-1}]`), "create", "--config", cfg)
			}},
		{name: "WeChat Pay's PARAM_ERROR", row: "a field breaks a rule", wechatCode: "PARAM_ERROR",
			run: func(t *testing.T) (int, string, string) {
				// Above the service's risk amount, which only WeChat Pay knows.
				_, cfg := fresh(t, sandbox.Options{MaxRiskAmount: 10000})
				return runCLI(t, saleJSON("ET-PARAM", 20000, ""), "create", "--config", cfg)
			}},
		{name: "out_order_no reused with other parameters", row: "`INVALID_REQUEST`", wechatCode: "INVALID_REQUEST",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				mustCLI(t, saleJSON("ET-REUSED", 500, ""), "create", "--config", cfg)
				return runCLI(t, saleJSON("ET-REUSED", 600, ""), "create", "--config", cfg)
			}},
		{name: "WeChat Pay refused our signature", row: "WeChat Pay refused our signature", wechatCode: "SIGN_ERROR",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				priv, _ := otherKeys()
				withKeyFile(t, cfg, "merchant_private_key_file", priv)
				return runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ET-SIGN")
			}},
		{name: "the answer does not verify", row: "WeChat Pay refused our signature", reachedServer: true,
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				_, pub := otherKeys()
				withKeyFile(t, cfg, "wechatpay_public_key_file", pub)
				code, out, errOut := runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ET-VERIFY")
				// What an answer that does not verify says is nobody's word:
				// its code (ORDER_NOT_EXIST here) is not passed on as WeChat Pay's.
				if e := oneError(t, errOut).Error; e.WeChatCode != "" || e.WeChatMessage != "" {
					t.Errorf("an unverified answer's code passed on as WeChat Pay's: %q %q", e.WeChatCode, e.WeChatMessage)
				}
				return code, out, errOut
			}},
		{name: "WeChat Pay refused the request's time, even on its own", row: "reason `CLOCK_SKEW`", reason: "CLOCK_SKEW",
			run: func(t *testing.T) (int, string, string) {
				// Each refusal dates itself 10 minutes after the time the
				// request was signed with: the plugin signs again on that
				// time, and is refused again.
				srv, cfg := fresh(t, sandbox.Options{})
				srv.SetFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					signed, ok := signedAt(r)
					if !ok {
						next.ServeHTTP(w, r)
						return
					}
					w.Header().Set("Date", signed.Add(10*time.Minute).UTC().Format(http.TimeFormat))
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					w.Write([]byte(`{"code":"SIGN_ERROR","message":"timestamp out of range"}`))
				})
				return runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ET-CLOCK")
			}},
		{name: "a service the merchant may not use", row: "`NO_AUTH`", wechatCode: "NO_AUTH",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				return runCLI(t, saleJSON("ET-NOAUTH", 500, `,"service_id":"404404"`), "create", "--config", cfg)
			}},
		{name: "rate limited", row: "`FREQUENCY_LIMITED`", wechatCode: "FREQUENCY_LIMITED",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				setFaults(t, srv, sandbox.FaultRateLimit)
				return runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ET-RATE")
			}},
		{name: "WeChat Pay's system error", row: "WeChat Pay's system error (5xx)", wechatCode: "SYSTEM_ERROR",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				setFaults(t, srv, sandbox.FaultError)
				return runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ET-5XX")
			}},
		{name: "no answer to a query", row: "no answer; `reached_server`",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				setFaults(t, srv, sandbox.FaultOffline)
				return runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ET-NET")
			}},
		{name: "no answer to a create that must be online", row: "no answer; `reached_server`", reason: "OFFLINE",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				setFaults(t, srv, sandbox.FaultOffline)
				return runCLI(t, saleJSON("ET-ONLINE", 500, queueable), "create", "--config", cfg, "--offline", "require-online")
			}},
		{name: "no answer to a create its customer must confirm", row: "no answer; `reached_server`", reason: "NEEDS_CONFIRMATION_ONLINE",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				setFaults(t, srv, sandbox.FaultOffline)
				return runCLI(t, saleJSON("ET-CONFIRM", 500, ""), "create", "--config", cfg)
			}},
		{name: "no such order", row: "no such order", wechatCode: "ORDER_NOT_EXIST",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				return runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ET-NONE")
			}},
		{name: "a cancel of a FINISHED order", row: "reason `ORDER_STATE_<state>`", reason: "ORDER_STATE_FINISHED",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				confirmed(t, srv, cfg, "ET-DONE", 500)
				mustCLI(t, completeJSON("ET-DONE", 200), "complete", "--config", cfg)
				// Another kiosk's outbox, which holds no complete of it:
				// the order's state refuses the cancel.
				other, _ := srv.ConfigFile(t)
				return runCLI(t, `{"out_order_no":"ET-DONE","reason":"未取货"}`, "cancel", "--config", other)
			}},
		{name: "a complete of an order not yet confirmed", row: "reason `ORDER_STATE_<state>`", reason: "ORDER_STATE_CREATED",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				mustCLI(t, saleJSON("ET-UNCONF", 500, ""), "create", "--config", cfg)
				return runCLI(t, completeJSON("ET-UNCONF", 200), "complete", "--config", cfg)
			}},
		{name: "a complete above the risk amount", row: "reason `ORDER_STATE_<state>`", reason: "TOTAL_ABOVE_RISK_AMOUNT",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				confirmed(t, srv, cfg, "ET-RISK", 500)
				return runCLI(t, completeJSON("ET-RISK", 600), "complete", "--config", cfg)
			}},
		{name: "a complete after another was applied", row: "reason `ORDER_STATE_<state>`", reason: "ORDER_STATE_FINISHED",
			run: func(t *testing.T) (int, string, string) {
				// Online, WeChat Pay's order state refuses it (the message
				// adds what the outbox applied).
				srv, cfg := fresh(t, sandbox.Options{})
				confirmed(t, srv, cfg, "ET-TWICE", 500)
				mustCLI(t, completeJSON("ET-TWICE", 200), "complete", "--config", cfg)
				return runCLI(t, completeJSON("ET-TWICE", 300), "complete", "--config", cfg)
			}},
		{name: "a complete while another waits in the queue", row: "reason `OPERATION_CONFLICT`", reason: "OPERATION_CONFLICT",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				confirmed(t, srv, cfg, "ET-QUEUED", 500)
				setFaults(t, srv, sandbox.FaultOffline)
				code, out, errOut := runCLI(t, completeJSON("ET-QUEUED", 200), "complete", "--config", cfg)
				if code != 0 || !strings.Contains(out, "DISPOSITION_QUEUED") {
					t.Fatalf("the first complete, offline: exit %d\n%s\n%s", code, out, errOut)
				}
				return runCLI(t, completeJSON("ET-QUEUED", 300), "complete", "--config", cfg)
			}},
		{name: "a request over 256 KiB", row: "a request over 256 KiB",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				return runCLI(t, `{"out_order_no":"ET-BIG","reason":"`+strings.Repeat("x", 300<<10)+`"}`, "cancel", "--config", cfg)
			}},
		{name: "an order above the offline limit", row: "queuing would pass a limit", reason: "MAX_ORDER_AMOUNT",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				withKey(t, cfg, "offline_max_order_amount", 1000)
				return runCLI(t, saleJSON("ET-AMOUNT", 2000, queueable), "create", "--config", cfg, "--offline", "force-offline")
			}},
		{name: "too many orders queued", row: "queuing would pass a limit", reason: "MAX_QUEUED_ORDERS",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				withKey(t, cfg, "offline_max_orders", 1)
				setFaults(t, srv, sandbox.FaultOffline) // the first stays queued
				mustCLI(t, saleJSON("ET-Q1", 500, queueable), "create", "--config", cfg, "--offline", "force-offline")
				return runCLI(t, saleJSON("ET-Q2", 500, queueable), "create", "--config", cfg, "--offline", "force-offline")
			}},
		{name: "too much queued", row: "queuing would pass a limit", reason: "MAX_QUEUED_AMOUNT",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				withKey(t, cfg, "offline_max_total_amount", 1500)
				setFaults(t, srv, sandbox.FaultOffline) // the first stays queued
				mustCLI(t, saleJSON("ET-T1", 1000, queueable), "create", "--config", cfg, "--offline", "force-offline")
				return runCLI(t, saleJSON("ET-T2", 1000, queueable), "create", "--config", cfg, "--offline", "force-offline")
			}},
		{name: "the kiosk's plugin holds the outbox", row: "reason `OUTBOX_LOCKED`", reason: "OUTBOX_LOCKED",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				kiosk(t, cfg) // without admin_socket
				return runCLI(t, "", "status", "--config", cfg)
			}},
		{name: "an unknown flag", row: "the command line cannot run",
			run: func(t *testing.T) (int, string, string) { return runCLI(t, "", "status", "--no-such-flag") }},
		{name: "an unknown command", row: "the command line cannot run",
			run: func(t *testing.T) (int, string, string) { return runCLI(t, "", "frobnicate") }},
		{name: "an unknown queue subcommand", row: "the command line cannot run",
			run: func(t *testing.T) (int, string, string) { return runCLI(t, "", "queue", "frobnicate") }},
		{name: "a flag's value", row: "the command line cannot run",
			run: func(t *testing.T) (int, string, string) {
				return runCLI(t, "{}", "create", "--config", "unused.json", "--offline", "sometimes")
			}},
		{name: "a required flag missing", row: "the command line cannot run",
			run: func(t *testing.T) (int, string, string) { return runCLI(t, "", "query", "--config", "unused.json") }},
		{name: "arguments left after the flags", row: "the command line cannot run",
			run: func(t *testing.T) (int, string, string) {
				return runCLI(t, "", "status", "--config", "unused.json", "stray")
			}},
		{name: "a --json file that is not there", row: "the CLI's own part failed",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				return runCLI(t, "", "create", "--config", cfg, "--json", filepath.Join(t.TempDir(), "missing.json"))
			}},
		{name: "a plugin that is not there", row: "the CLI's own part failed",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				return runCLI(t, "", "status", "--config", cfg, "--plugin", filepath.Join(t.TempDir(), "no-plugin"))
			}},
		{name: "Ctrl-C", row: "the CLI's own part failed",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				asked := make(chan struct{})
				gone := make(chan struct{})
				t.Cleanup(func() { close(gone) })
				srv.SetFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					close(asked)
					select {
					case <-r.Context().Done():
					case <-gone:
					}
				})
				// The signal's context (main's) ends while the plugin waits
				// for WeChat Pay.
				ctx, cancel := context.WithCancel(testkit.Context(t))
				go func() {
					select {
					case <-asked:
					case <-ctx.Done():
					}
					cancel()
				}()
				var out, errOut bytes.Buffer
				code := run(ctx, []string{"query", "--config", cfg, "--out-order-no", "ET-INT"}, strings.NewReader(""), &out, &errOut)
				if !strings.Contains(errOut.String(), "interrupted") {
					t.Errorf("the error does not say it was interrupted: %s", errOut.String())
				}
				return code, out.String(), errOut.String()
			}},
		{name: "--timeout passed", row: "`--timeout` passed before the plugin answered",
			run: func(t *testing.T) (int, string, string) {
				_, cfg := fresh(t, sandbox.Options{})
				return runCLI(t, "", "status", "--config", cfg, "--timeout", "1ms")
			}},
		{name: "--timeout passed during a query", row: "`--timeout` passed before the plugin answered",
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				// WeChat Pay does not answer until the test ends.
				gone := make(chan struct{})
				t.Cleanup(func() { close(gone) })
				srv.SetFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					select {
					case <-r.Context().Done():
					case <-gone:
					}
				})
				return runCLI(t, "", "query", "--config", cfg, "--out-order-no", "ET-SLOW", "--timeout", "1s")
			}},
		{name: "--timeout passed during a create", row: "`--timeout` passed before the plugin answered", reachedServer: true,
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				// WeChat Pay holds the create until the test ends: it may
				// have reached it, and the error must say so.
				gone := make(chan struct{})
				t.Cleanup(func() { close(gone) })
				srv.SetFront(func(w http.ResponseWriter, r *http.Request, next http.Handler) {
					select {
					case <-r.Context().Done():
					case <-gone:
					}
				})
				return runCLI(t, saleJSON("ET-SLOWC", 500, queueable), "create", "--config", cfg, "--offline", "require-online", "--timeout", "1s")
			}},
		{name: "queue drain's --timeout passed", row: "`--timeout` passed before the plugin answered", reason: reasonDrainTimeout,
			run: func(t *testing.T) (int, string, string) {
				srv, cfg := fresh(t, sandbox.Options{})
				setFaults(t, srv, sandbox.FaultOffline)
				mustCLI(t, saleJSON("ET-DRAIN", 500, queueable), "create", "--config", cfg, "--offline", "force-offline")
				return runCLI(t, "", "queue", "drain", "--config", cfg, "--timeout", "500ms")
			}},
	}
}
