// Runs the Node kiosk against the real plugin binary and a sandbox started
// with the smartretail CLI. Binaries come from $SMARTRETAIL_BIN, or are
// built here with the Go toolchain.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const grpc = require('@grpc/grpc-js');
const { startPlugin, resolveConfig } = require('./kiosk');

const repo = path.resolve(__dirname, '..', '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'node-kiosk-'));
let bin;
let sandbox;
let sandboxURL;
let configPath;

before(async () => {
  bin = process.env.SMARTRETAIL_BIN;
  if (!bin) {
    bin = path.join(work, 'bin');
    execFileSync('go', ['build', '-o', bin + path.sep, './cmd/smartretail', './cmd/smartretail-plugin'], { cwd: repo, stdio: 'inherit' });
  }
  const dir = path.join(work, 'sandbox');
  sandbox = spawn(path.join(bin, 'smartretail'), ['sandbox', '--addr', '127.0.0.1:0', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise((resolve, reject) => {
    readline.createInterface({ input: sandbox.stdout }).once('line', resolve);
    sandbox.once('exit', (code) => reject(new Error(`sandbox exited ${code}`)));
  });
  assert.match(first, /^sandbox listening on http:\/\/127\.0\.0\.1:\d+$/);
  sandboxURL = first.replace('sandbox listening on ', '');
  configPath = path.join(dir, 'config.json');
});

after(async () => {
  if (sandbox && sandbox.exitCode === null) {
    const exited = new Promise((resolve) => sandbox.once('exit', resolve));
    sandbox.kill('SIGTERM');
    await exited;
  }
  fs.rmSync(work, { recursive: true, force: true });
});

test('a Node host drives the plugin over go-plugin, gRPC and mTLS', async () => {
  const logs = [];
  const plugin = await startPlugin(path.join(bin, 'smartretail-plugin'), { onLog: (l) => logs.push(l) });
  try {
    // Before Configure, everything else is FAILED_PRECONDITION.
    await assert.rejects(plugin.call('CreateOrder', { order: {} }), (err) => {
      assert.equal(err.grpcCode, grpc.status.FAILED_PRECONDITION);
      assert.equal(err.class, 'NOT_CONFIGURED');
      return true;
    });

    const configured = await plugin.call('Configure', { config: resolveConfig(configPath) });
    assert.equal(configured.verify_mode, 'public_key');

    // Every field WeChat Pay requires of a create.
    const order = {
      out_order_no: 'NODE-1', service_start_time: 'OnAccept', service_start_location: '柜机 K-1', service_introduction: '智慧零售',
      risk_amount: 20000, fees: [{ fee_name: '可乐', fee_count: 1, fee_amount: 350 }],
    };
    const created = await plugin.call('CreateOrder', { order });
    assert.equal(created.disposition, 'DISPOSITION_SUBMITTED');
    assert.equal(created.order.out_order_no, 'NODE-1');
    assert.ok(created.order.order_id);
    assert.ok(created.order.package);

    const got = await plugin.call('QueryOrder', { out_order_no: 'NODE-1' });
    assert.equal(got.order.state, 'CREATED');
    assert.equal(got.order.risk_amount, '20000'); // int64 arrives as a string (longs: String)
    assert.equal(got.order.fees[0].fee_name, '可乐');

    // The customer's authorisation, which the official flow asks before create.
    const state = await plugin.call('GetUserServiceState', { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' });
    assert.equal(state.use_service_state, 'AVAILABLE');
    assert.equal(state.openid, 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o');

    // A refused request names the field, in the request message's terms.
    await assert.rejects(plugin.call('CreateOrder', { order: { ...order, out_order_no: 'NODE-2', fees: [{ fee_name: 'x', fee_amount: -1 }] } }), (err) => {
      assert.equal(err.grpcCode, grpc.status.INVALID_ARGUMENT);
      assert.equal(err.class, 'INVALID');
      assert.equal(err.violations[0].field, 'order.fees[0].fee_amount');
      return true;
    });
    // WeChat Pay's own code comes through when it answered.
    await assert.rejects(plugin.call('QueryOrder', { out_order_no: 'NODE-404' }), (err) => {
      assert.equal(err.grpcCode, grpc.status.NOT_FOUND);
      assert.equal(err.wechatCode, 'ORDER_NOT_EXIST');
      return true;
    });

    // The sandbox saw exactly one create.
    const admin = await (await fetch(`${sandboxURL}/sandbox/orders/NODE-1`)).json();
    assert.equal(admin.create_requests, 1);
  } finally {
    const { code, signal } = await plugin.shutdown();
    assert.equal(signal, null, `plugin was killed: ${logs.join('\n')}`);
    assert.equal(code, 0);
  }
  assert.ok(logs.some((l) => l.includes('"configured"')), 'the plugin logged through stderr');
});
