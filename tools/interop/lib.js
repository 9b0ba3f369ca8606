// Helpers of strict-peer.js: a charge point played by ocpp-rpc (every call
// it receives recorded and answered Accepted), the HTTP API, and the checks'
// bookkeeping (an ocpp-rpc validation failure counts as a failed check).
'use strict';
const { RPCClient } = require('ocpp-rpc');
const fs = require('fs');
const http = require('http');

const issues = [];      // every discrepancy / failed check
const notes = [];       // informational observations
const counts = { out: 0, in: 0 };

function issue(msg, extra) {
    const line = extra === undefined ? msg : `${msg} :: ${JSON.stringify(extra)}`;
    issues.push(line);
    console.log('  !! ISSUE: ' + line);
}
function note(msg, extra) {
    const line = extra === undefined ? msg : `${msg} :: ${JSON.stringify(extra)}`;
    notes.push(line);
    console.log('  -- note: ' + line);
}
function check(cond, msg, extra) {
    if (cond) console.log('  ok: ' + msg);
    else issue('check failed: ' + msg, extra);
    return cond;
}
const sleep = ms => new Promise(r => setTimeout(r, ms));

// Under security profile 2: trust the gateway's certificate (INTEROP_CA,
// written by tools/run-interop), and nothing else, name checked.
function tlsOptions() {
    return process.env.INTEROP_CA ? { ca: fs.readFileSync(process.env.INTEROP_CA) } : {};
}
const nowIso = () => new Date().toISOString();

// A charger: RPCClient + handlers for every Central System call.
class Charger {
    constructor(id, opts = {}) {
        this.id = id;
        this.received = [];          // {method, params, at}
        this.strictFailures = [];
        this.raw = [];               // {dir, message}
        this.rateUnit = opts.rateUnit || 'Power';
        this.closed = null;
        this.client = new RPCClient({
            endpoint: opts.endpoint,
            identity: id,
            protocols: ['ocpp1.6'],
            strictMode: opts.strict === undefined ? true : opts.strict,
            password: opts.password,
            reconnect: false,
            callTimeoutMs: 15000,
            wsOpts: tlsOptions(),
        });
        const c = this.client;
        c.on('message', ({ message, outbound }) => {
            counts[outbound ? 'out' : 'in']++;
            this.raw.push({ dir: outbound ? 'out' : 'in', message: String(message), at: Date.now() });
            if (process.env.VERBOSE) console.log(`    [${id}] ${outbound ? '>>' : '<<'} ${message}`);
        });
        c.on('strictValidationFailure', ev => {
            const rec = {
                method: ev.method, outbound: ev.outbound, isCall: ev.isCall,
                error: `${ev.error.rpcErrorCode || ev.error.name}: ${ev.error.message}`,
                params: ev.params, result: ev.result,
            };
            this.strictFailures.push(rec);
            issue(`[${id}] ocpp-rpc strictValidationFailure`, rec);
        });
        // A message ocpp-rpc could not place. Expected only where a check
        // provokes one (expectBadMessages); anywhere else it is an issue.
        this.badMessages = [];
        this.expectBadMessages = false;
        c.on('badMessage', ev => {
            const rec = { buffer: String(ev.buffer), error: String(ev.error), response: ev.response };
            if (this.expectBadMessages) this.badMessages.push(rec);
            else issue(`[${id}] ocpp-rpc badMessage`, rec);
        });
        c.on('close', ev => { this.closed = ev; });
        const record = (method, answer) => c.handle(method, ({ params }) => {
            this.received.push({ method, params, at: Date.now() });
            return typeof answer === 'function' ? answer(params) : answer;
        });
        record('GetConfiguration', params => {
            const keys = params.key || [];
            const known = [], unknown = [];
            for (const k of keys) {
                if (k === 'ChargingScheduleAllowedChargingRateUnit')
                    known.push({ key: k, readonly: true, value: this.rateUnit });
                else unknown.push(k);
            }
            if (keys.length === 0)
                known.push({ key: 'ChargingScheduleAllowedChargingRateUnit', readonly: true, value: this.rateUnit });
            const r = { configurationKey: known };
            if (unknown.length) r.unknownKey = unknown;
            return r;
        });
        record('SetChargingProfile', () => opts.setProfileAnswer || { status: 'Accepted' });
        record('ChangeAvailability', { status: 'Accepted' });
        record('RemoteStartTransaction', { status: 'Accepted' });
        record('RemoteStopTransaction', { status: 'Accepted' });
        record('ClearChargingProfile', { status: 'Accepted' });
        record('TriggerMessage', { status: 'Accepted' });
        record('ChangeConfiguration', { status: 'Accepted' });
        record('Reset', { status: 'Accepted' });
        c.handle(({ method, params }) => {
            this.received.push({ method, params, at: Date.now() });
            issue(`[${id}] gateway sent an unexpected call ${method}`, params);
            return {};
        });
    }
    async connect() { await this.client.connect(); return this; }
    call(method, params, opts) { return this.client.call(method, params, opts); }
    calls(method) { return this.received.filter(r => r.method === method); }
    async close() { try { await this.client.close({ code: 1000, awaitPending: false }); } catch (e) { } }
}

function api(port, method, path, body, contentType) {
    return new Promise((resolve, reject) => {
        const req = http.request({
            host: '127.0.0.1', port, method, path,
            headers: body ? { 'Content-Type': contentType || 'text/csv', 'Content-Length': Buffer.byteLength(body) } : {},
        }, res => {
            let data = '';
            res.on('data', d => data += d);
            res.on('end', () => {
                let json = null;
                try { json = JSON.parse(data); } catch (e) { }
                resolve({ status: res.statusCode, json, text: data });
            });
        });
        req.on('error', reject);
        if (body) req.write(body);
        req.end();
    });
}

// Wait until every command in ids is terminal; returns the command objects.
async function waitCommands(port, ids, timeoutMs = 30000) {
    const end = Date.now() + timeoutMs;
    let cmds = [];
    while (Date.now() < end) {
        cmds = await Promise.all(ids.map(id => api(port, 'GET', `/api/v1/commands/${id}`).then(r => r.json)));
        if (cmds.every(c => c && ['COMPLETED', 'FAILED', 'TIMED_OUT', 'CANCELLED'].includes(c.status))) break;
        await sleep(500);
    }
    return cmds;
}

function isoPlus(ms) { return new Date(Date.now() + ms).toISOString().replace(/\.\d+Z$/, 'Z'); }

module.exports = { Charger, tlsOptions, api, waitCommands, sleep, nowIso, isoPlus, check, issue, note, issues, notes, counts };
