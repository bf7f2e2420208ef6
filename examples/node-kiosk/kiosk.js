// A kiosk host for the smartretail plugin in Node.js. It knows only what a
// host in any language knows: the .proto files in shared/proto and
// go-plugin's handshake. Nothing here is Go-specific.
//
//   node kiosk.js /path/to/smartretail-plugin /path/to/config.json
'use strict';

const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const readline = require('node:readline');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');
const x509 = require('@peculiar/x509');

const PROTO_DIR = path.resolve(__dirname, '..', '..', 'shared', 'proto');
const HANDSHAKE = { key: 'SMARTRETAIL_PLUGIN', value: 'a2d1f8c4-smartretail-orders', protocolVersion: '1' };

// keepCase: WeChat Pay's snake_case field names, as in the .proto files.
const definition = protoLoader.loadSync(
  ['smartretail/v1/orders.proto', 'plugin/grpc_stdio.proto', 'plugin/grpc_controller.proto'],
  { includeDirs: [PROTO_DIR], keepCase: true, longs: String, enums: String, defaults: false, oneofs: true },
);
const pkg = grpc.loadPackageDefinition(definition);

// clientCertificate makes the host's certificate for mTLS. Node can parse
// but not create X.509 certificates, hence @peculiar/x509. go-plugin's
// plugin trusts exactly this certificate, so it must also be a CA.
async function clientCertificate() {
  x509.cryptoProvider.set(crypto.webcrypto);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = await crypto.webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: crypto.randomBytes(8).toString('hex'),
    name: 'CN=localhost, O=kiosk host',
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 24 * 3600_000),
    keys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: 'localhost' }]),
    ],
  });
  const pkcs8 = Buffer.from(await crypto.webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString('pem'), keyPem };
}

// derToPem wraps the plugin's certificate from handshake field 6: DER,
// base64 without padding (re-padded here for Node's strict decoder).
function derToPem(field) {
  const b64 = field + '='.repeat((4 - (field.length % 4)) % 4);
  const der = Buffer.from(b64, 'base64');
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----\n`;
}

// startPlugin launches the plugin binary and connects to it.
async function startPlugin(pluginPath, { onLog = () => {} } = {}) {
  const { certPem, keyPem } = await clientCertificate();
  const child = spawn(pluginPath, [], {
    env: {
      ...process.env,
      [HANDSHAKE.key]: HANDSHAKE.value,
      PLUGIN_PROTOCOL_VERSIONS: HANDSHAKE.protocolVersion,
      PLUGIN_CLIENT_CERT: certPem,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The plugin logs JSON lines on stderr.
  readline.createInterface({ input: child.stderr }).on('line', onLog);
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));

  // The first stdout line: CORE-VERSION|APP-VERSION|NETWORK|ADDRESS|PROTOCOL|CERT
  const line = await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error('no handshake from the plugin within 20 s')), 20_000);
    rl.once('line', (l) => { clearTimeout(timer); resolve(l); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`plugin exited (${code}) before its handshake`)); });
  });
  const [core, app, network, address, protocol, certField] = line.trim().split('|');
  if (core !== '1' || app !== HANDSHAKE.protocolVersion || protocol !== 'grpc') {
    child.kill();
    throw new Error(`unexpected handshake: ${line}`);
  }
  if (!certField) {
    child.kill();
    throw new Error('the plugin did not send its certificate: mTLS is off');
  }
  const target = network === 'unix' ? `unix://${address}` : address;
  const creds = grpc.credentials.createSsl(Buffer.from(derToPem(certField)), Buffer.from(keyPem), Buffer.from(certPem));
  const options = { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost', 'grpc.max_receive_message_length': 16 << 20 };

  const orders = new pkg.smartretail.v1.OrderService(target, creds, options);
  const stdio = new pkg.plugin.GRPCStdio(target, creds, options);
  const controller = new pkg.plugin.GRPCController(target, creds, options);
  await new Promise((resolve, reject) => orders.waitForReady(Date.now() + 10_000, (err) => (err ? reject(err) : resolve())));

  // Read the plugin's stdio stream from the start, or its writes block.
  const stream = stdio.StreamStdio({});
  stream.on('data', (d) => onLog(`[plugin ${d.channel}] ${Buffer.from(d.data).toString()}`));
  stream.on('error', () => {}); // ends when the plugin stops

  const call = (method, request) => new Promise((resolve, reject) => {
    orders[method](request, { deadline: Date.now() + 15_000 }, (err, resp) => (err ? reject(decodeError(err)) : resolve(resp)));
  });

  async function shutdown() {
    await new Promise((resolve) => controller.Shutdown({}, { deadline: Date.now() + 2_000 }, () => resolve()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    const result = await exited;
    clearTimeout(timer);
    stream.cancel();
    orders.close(); stdio.close(); controller.close();
    return result;
  }
  return { call, shutdown, child, exited };
}

// The error details are decoded with protobufjs (what @grpc/proto-loader is
// built on): proto-loader describes messages but does not decode them.
const detailsRoot = new protobuf.Root();
detailsRoot.resolvePath = (origin, target) => (target.startsWith('google/protobuf/') ? target : path.join(PROTO_DIR, target));
detailsRoot.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });

// decodeError reads the google.rpc details out of a gRPC error: the error
// class (ErrorInfo, domain smartretail), WeChat Pay's code (domain
// wechatpay), field violations (BadRequest) and the retry delay (RetryInfo).
function decodeError(err) {
  const out = { grpcCode: err.code, message: err.details || err.message, violations: [] };
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (raw) {
    const status = detailsRoot.lookupType('google.rpc.Status').decode(raw);
    for (const any of status.details || []) {
      const typeName = any.type_url.split('/').pop();
      let d;
      try {
        d = detailsRoot.lookupType(typeName).decode(any.value);
      } catch {
        continue; // a detail type this host does not know
      }
      if (typeName === 'google.rpc.ErrorInfo' && d.domain === 'smartretail') {
        out.class = d.reason;
        out.message = (d.metadata && d.metadata.message) || out.message;
      }
      if (typeName === 'google.rpc.ErrorInfo' && d.domain === 'wechatpay') out.wechatCode = d.reason;
      if (typeName === 'google.rpc.BadRequest') out.violations = d.field_violations || [];
      if (typeName === 'google.rpc.RetryInfo' && d.retry_delay) out.retryAfterSeconds = Number(d.retry_delay.seconds || 0);
    }
  }
  return Object.assign(new Error(out.message), out);
}

// resolveConfig reads config.json and makes its file paths absolute: the
// plugin takes the Config message with absolute paths (the keys are the
// same as the file's).
function resolveConfig(configPath) {
  const cfg = JSON.parse(fs.readFileSync(configPath, 'utf8'));
  const dir = path.dirname(path.resolve(configPath));
  for (const key of ['merchant_private_key_file', 'wechatpay_public_key_file', 'wechatpay_certificate_file', 'outbox_path', 'outbox_key_file']) {
    if (cfg[key] && !path.isAbsolute(cfg[key])) cfg[key] = path.join(dir, cfg[key]);
  }
  return cfg;
}

async function main() {
  const [pluginPath, configPath] = process.argv.slice(2);
  if (!pluginPath || !configPath) {
    console.error('usage: node kiosk.js PLUGIN CONFIG_JSON');
    process.exit(2);
  }
  const plugin = await startPlugin(pluginPath, { onLog: (l) => console.error(l) });
  try {
    await plugin.call('Configure', { config: resolveConfig(configPath) });
    const created = await plugin.call('CreateOrder', {
      order: { service_start_time: 'OnAccept', service_start_location: '柜机 K-1', risk_amount: 20000, service_introduction: '智慧零售柜' },
    });
    console.log('created', created.disposition, created.order.out_order_no, created.order.order_id);
    const got = await plugin.call('QueryOrder', { out_order_no: created.order.out_order_no });
    console.log('state', got.order.state);
  } finally {
    const { code } = await plugin.shutdown();
    console.log('plugin exited with', code);
  }
}

module.exports = { startPlugin, decodeError, resolveConfig, HANDSHAKE };

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
