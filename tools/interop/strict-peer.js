// The charger side of OCPP 1.6 Core, played by ocpp-rpc in strict mode (every
// message both ways checked against the OCA's JSON schemas) against a running
// gridgate: three chargers with different quirk options boot (and report a
// security event), report status and meter values, authorize, start (and
// replay) transactions, take two schedules' SetChargingProfiles, reconnect
// (one booting with a changed unit), stop their transactions and take a
// schedule outside them. Then
// misbehaviour: refused handshakes, a second connection of one identity,
// invalid payloads, an unknown action and a frame that is not JSON.
// tools/run-interop starts the gateway on site.toml.in and runs this.
//
//   node strict-peer.js OCPP_PORT API_PORT SECURITY_PROFILE
//
// Prints "ok:" per check; exits 1 if any check failed or ocpp-rpc refused a
// message.
'use strict';
const L = require('./lib');
const { Charger, tlsOptions, api, waitCommands, sleep, nowIso, isoPlus, check, issue, note } = L;
const { RPCClient } = require('ocpp-rpc');

const [ocppPort, apiPort, profile] = process.argv.slice(2).map(Number);
const endpoint = `${profile >= 2 ? 'wss' : 'ws'}://127.0.0.1:${ocppPort}/ocpp`;
const pw = { CPW: 'pw-w-secret', CPA: 'pw-a-secret', CPAUTO: 'pw-auto-secret' };
const HB = 120;

function mk(id, extra = {}) {
    return new Charger(id, { endpoint, password: profile >= 1 ? pw[id] : undefined, ...extra });
}

const tx = {};   // id -> transactionId

async function boot(ch) {
    const r = await ch.call('BootNotification', {
        chargePointVendor: 'InteropVendor', chargePointModel: 'StrictModel-' + ch.id,
        chargePointSerialNumber: 'SN-' + ch.id, firmwareVersion: '1.0.0',
    });
    check(r.status === 'Accepted', `[${ch.id}] BootNotification Accepted`, r);
    check(r.interval === HB, `[${ch.id}] BootNotification interval == heartbeat_interval_seconds (${HB})`, r);
    check(Math.abs(Date.parse(r.currentTime) - Date.now()) < 5000, `[${ch.id}] BootNotification currentTime is now`, r);
    // The security extension's one message a charger sends unasked.
    const e = await ch.call('SecurityEventNotification', { type: 'StartupOfTheDevice', timestamp: nowIso() });
    check(e && Object.keys(e).length === 0, `[${ch.id}] SecurityEventNotification -> {}`, e);
    return r;
}

async function status(ch, connectorId, st, errorCode = 'NoError') {
    const r = await ch.call('StatusNotification', { connectorId, errorCode, status: st, timestamp: nowIso() });
    check(r && Object.keys(r).length === 0, `[${ch.id}] StatusNotification ${connectorId}/${st} -> {}`, r);
}

async function meter(ch, variant) {
    const sv = variant === 'k'
        ? [{ value: '7.4', measurand: 'Power.Active.Import', unit: 'kW', context: 'Sample.Periodic', location: 'Outlet' },
           { value: '12.5', measurand: 'Energy.Active.Import.Register', unit: 'kWh' },
           { value: '32', measurand: 'Current.Offered', unit: 'A' },
           { value: '80', measurand: 'SoC', unit: 'Percent', location: 'EV' }]
        : [{ value: '7400', measurand: 'Power.Active.Import', unit: 'W', context: 'Sample.Periodic', location: 'Outlet' },
           { value: '1234.5', measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
           { value: '16', measurand: 'Current.Offered', unit: 'A' },
           { value: '55', measurand: 'SoC', unit: 'Percent', location: 'EV' }];
    const r = await ch.call('MeterValues', {
        connectorId: 1, transactionId: tx[ch.id], meterValue: [{ timestamp: nowIso(), sampledValue: sv }],
    });
    check(r && Object.keys(r).length === 0, `[${ch.id}] MeterValues -> {}`, r);
}

async function startSession(ch, meterVariant) {
    await boot(ch);
    const hb = await ch.call('Heartbeat', {});
    check(hb && Math.abs(Date.parse(hb.currentTime) - Date.now()) < 5000, `[${ch.id}] Heartbeat currentTime`, hb);
    await status(ch, 0, 'Available');
    await status(ch, 1, 'Available');
    const au = await ch.call('Authorize', { idTag: 'TAG-' + ch.id });
    check(au.idTagInfo && au.idTagInfo.status === 'Accepted', `[${ch.id}] Authorize Accepted`, au);
    await status(ch, 1, 'Preparing');
    const startReq = { connectorId: 1, idTag: 'TAG-' + ch.id, meterStart: 1000, timestamp: nowIso() };
    const st = await ch.call('StartTransaction', startReq);
    check(Number.isInteger(st.transactionId) && st.idTagInfo.status === 'Accepted', `[${ch.id}] StartTransaction Accepted`, st);
    tx[ch.id] = st.transactionId;
    const st2 = await ch.call('StartTransaction', startReq);   // replay (lost answer)
    if (st2.transactionId !== st.transactionId)
        issue(`[${ch.id}] replayed StartTransaction got a different transactionId`, { first: st, replay: st2 });
    else console.log(`  ok: [${ch.id}] replayed StartTransaction -> same transactionId ${st.transactionId}`);
    check(st2.idTagInfo.status === 'Accepted', `[${ch.id}] replayed StartTransaction Accepted`, st2);
    await status(ch, 1, 'Charging');
    await meter(ch, meterVariant);
}

// expected SetChargingProfile for a setpoint
const floor1 = x => Math.floor(x * 10 + 1e-9) / 10;
function expectProfile(id, kw, unitOverride, inTx) {
    const cfg = {
        CPW: { unit: 'W', phases: 3, V: 230, kind: 'Absolute', stack: 2, purpose: 'auto', min: 0 },
        CPA: { unit: 'A', phases: 3, V: 230, kind: 'Relative', stack: 0, purpose: 'auto', min: 6 },
        CPAUTO: { unit: unitOverride, phases: 1, V: 230, kind: 'Absolute', stack: 0, purpose: 'tx_default', min: 0 },
    }[id];
    const unit = cfg.unit;
    let limit = unit === 'W' ? floor1(kw * 1000) : floor1(kw * 1000 / (cfg.V * cfg.phases));
    if (unit === 'A' && limit < cfg.min) limit = 0;
    const purpose = (cfg.purpose === 'tx_default' || !inTx) ? 'TxDefaultProfile' : 'TxProfile';
    return { unit, limit, kind: cfg.kind, stack: cfg.stack, purpose, phases: unit === 'A' ? cfg.phases : undefined };
}

function checkProfile(ch, rec, kw, unitOverride, inTx) {
    const p = rec.params;
    const e = expectProfile(ch.id, kw, unitOverride, inTx);
    const cp = p.csChargingProfiles || {};
    const sch = cp.chargingSchedule || {};
    const per = (sch.chargingSchedulePeriod || [])[0] || {};
    const tag = `[${ch.id}] SetChargingProfile for ${kw} kW`;
    const probs = [];
    if (p.connectorId !== 1) probs.push(`connectorId ${p.connectorId} != 1`);
    if (cp.chargingProfilePurpose !== e.purpose) probs.push(`purpose ${cp.chargingProfilePurpose} != ${e.purpose}`);
    if (e.purpose === 'TxProfile' && cp.transactionId !== tx[ch.id]) probs.push(`transactionId ${cp.transactionId} != running ${tx[ch.id]}`);
    if (e.purpose !== 'TxProfile' && cp.transactionId !== undefined) probs.push(`transactionId present on ${e.purpose}`);
    if (cp.stackLevel !== e.stack) probs.push(`stackLevel ${cp.stackLevel} != ${e.stack}`);
    if (cp.chargingProfileKind !== e.kind) probs.push(`kind ${cp.chargingProfileKind} != ${e.kind}`);
    if (sch.chargingRateUnit !== e.unit) probs.push(`unit ${sch.chargingRateUnit} != ${e.unit}`);
    if (per.limit !== e.limit) probs.push(`limit ${per.limit} != expected ${e.limit}`);
    if (Math.abs(per.limit * 10 - Math.round(per.limit * 10)) > 1e-9) probs.push(`limit ${per.limit} not a multiple of 0.1`);
    if (per.startPeriod !== 0) probs.push(`startPeriod ${per.startPeriod}`);
    if ((sch.chargingSchedulePeriod || []).length !== 1) probs.push('not exactly one period');
    if (e.phases !== undefined && per.numberPhases !== e.phases) probs.push(`numberPhases ${per.numberPhases} != ${e.phases}`);
    if (e.unit === 'W' && per.numberPhases !== undefined) note(`${tag}: numberPhases ${per.numberPhases} sent in W mode`);
    if (e.kind === 'Absolute') {
        const age = (rec.at - Date.parse(sch.startSchedule)) / 1000;
        if (!sch.startSchedule) probs.push('no startSchedule on Absolute profile');
        else if (!(age > 50 && age < 70)) probs.push(`startSchedule ${sch.startSchedule} is ${age.toFixed(1)} s before receipt, not ~60`);
    } else if (sch.startSchedule !== undefined) probs.push(`startSchedule ${sch.startSchedule} on a Relative profile`);
    if (!Number.isInteger(cp.chargingProfileId)) probs.push('chargingProfileId not an integer');
    if (probs.length) issue(`${tag}: ${probs.join('; ')}`, p);
    else console.log(`  ok: ${tag}: ${cp.chargingProfilePurpose} ${cp.chargingProfileKind} ${per.limit} ${sch.chargingRateUnit}` +
        `${per.numberPhases ? ' x' + per.numberPhases + 'ph' : ''} stack ${cp.stackLevel}${cp.transactionId ? ' tx ' + cp.transactionId : ''}`);
}

async function postSchedule(csv, label) {
    const r = await api(apiPort, 'POST', '/api/v1/schedules', csv, 'text/csv');
    check(r.status === 201, `POST schedule (${label}) -> 201`, r.text);
    console.log('    ' + r.text);
    return r.json;
}

// A handshake that must be refused: resolves to the error ocpp-rpc gives
// (null if it connected).
async function refused(identity, opts = {}) {
    const client = new RPCClient({
        endpoint: opts.endpoint || endpoint, identity, protocols: opts.protocols || ['ocpp1.6'],
        strictMode: false, password: opts.password, reconnect: false, wsOpts: tlsOptions(),
    });
    try {
        await client.connect();
    } catch (e) {
        return e;
    }
    await client.close({ code: 1000 }).catch(() => {});
    return null;
}

// The CALLERROR code a call gets, or 'answered' / what went wrong.
async function errorCode(client, method, params) {
    try {
        await client.call(method, params);
        return 'answered';
    } catch (e) {
        return e.rpcErrorCode || e.message;
    }
}

// What a charger that bends the rules gets: handshake refusals, a second
// connection of the same identity, invalid payloads (from a client that does
// not validate its own), an unknown action and a frame that is not JSON.
async function misbehave(chs) {
    console.log('== misbehaviour');
    const ghost = await refused('CPGHOST', { password: profile >= 1 ? 'any' : undefined });
    check(ghost && ghost.code === 404, 'an identity not in the site file is refused with 404', ghost && ghost.message);
    if (profile >= 1) {
        const wrong = await refused('CPW', { password: 'not-the-password' });
        check(wrong && wrong.code === 401, '[CPW] a wrong password is refused with 401', wrong && wrong.message);
        const none = await refused('CPW');
        check(none && none.code === 401, '[CPW] no password is refused with 401', none && none.message);
    }
    if (profile >= 2) {
        const plain = await refused('CPW', { password: pw.CPW, endpoint: endpoint.replace('wss:', 'ws:') });
        check(plain !== null, '[CPW] plain ws on the TLS port does not get a connection', plain && plain.message);
    }
    const noProtocol = await refused('CPA', { password: profile >= 1 ? pw.CPA : undefined, protocols: ['ocpp2.0.1'] });
    check(noProtocol !== null, '[CPA] a client that does not offer ocpp1.6 does not get a connection', noProtocol && noProtocol.message);
    check(!chs.CPA.closed, '[CPA] the refused client left the connected one alone');

    // Newest wins: a second connection of CPW replaces the first.
    const dup = await mk('CPW', { strict: false }).connect();
    for (let i = 0; i < 50 && !chs.CPW.closed; i++) await sleep(100);
    check(!!chs.CPW.closed, '[CPW] a second connection of the identity closes the first', chs.CPW.closed);
    const assets = await api(apiPort, 'GET', '/api/v1/assets');
    const cpw = assets.json.assets.find(a => a.id === 'ast_w');
    check(cpw && cpw.connected === true, '[CPW] still connected through the newer connection', cpw);

    const c = dup.client;
    const boot = await errorCode(c, 'BootNotification', { chargePointVendor: 'gridgate-interop' });
    check(boot === 'OccurenceConstraintViolation', '[CPW] BootNotification without chargePointModel -> OccurenceConstraintViolation', boot);
    const extra = await errorCode(c, 'Heartbeat', { surplus: 1 });
    check(extra === 'FormationViolation', '[CPW] Heartbeat with a property it does not have -> FormationViolation', extra);
    const type = await errorCode(c, 'StatusNotification', { connectorId: 'one', errorCode: 'NoError', status: 'Available' });
    check(type === 'TypeConstraintViolation', '[CPW] StatusNotification with a text connectorId -> TypeConstraintViolation', type);
    const value = await errorCode(c, 'StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Sleeping' });
    check(value === 'PropertyConstraintViolation', '[CPW] StatusNotification with an unknown status -> PropertyConstraintViolation', value);
    const unknown = await errorCode(c, 'MakeCoffee', {});
    check(unknown === 'NotImplemented', '[CPW] an action OCPP 1.6 does not have -> NotImplemented', unknown);
    // Its message id cannot be read, so the answer names "-1", which
    // ocpp-rpc cannot place: the one badMessage this run expects.
    dup.expectBadMessages = true;
    c.sendRaw('[2,"x1","Heartbeat",{');
    for (let i = 0; i < 30 && dup.badMessages.length === 0; i++) await sleep(100);
    dup.expectBadMessages = false;
    const answer = dup.badMessages.length === 1 ? JSON.parse(dup.badMessages[0].buffer) : null;
    check(answer && answer[0] === 4 && answer[1] === '-1' && answer[2] === 'FormationViolation',
        '[CPW] a frame that is not JSON -> CALLERROR "-1" FormationViolation', dup.badMessages);
    check(!dup.closed, '[CPW] a frame that is not JSON does not cost the connection', dup.closed);
    const after = await errorCode(c, 'Heartbeat', {});
    check(after === 'answered', '[CPW] the next Heartbeat is answered', after);
    await dup.close();
}

(async () => {
    console.log(`== profile ${profile}: ocpp ${ocppPort}, api ${apiPort}`);
    const chs = {
        CPW: await mk('CPW').connect(),
        CPA: await mk('CPA').connect(),
        CPAUTO: await mk('CPAUTO', { rateUnit: 'Current' }).connect(),
    };
    await startSession(chs.CPW, 'w');
    await startSession(chs.CPA, 'k');
    await startSession(chs.CPAUTO, 'w');
    await sleep(500);
    const gc = chs.CPAUTO.calls('GetConfiguration');
    check(gc.length === 1 && JSON.stringify(gc[0].params.key) === '["ChargingScheduleAllowedChargingRateUnit"]',
        '[CPAUTO] one GetConfiguration(ChargingScheduleAllowedChargingRateUnit) after boot', gc);
    check(chs.CPW.calls('GetConfiguration').length === 0 && chs.CPA.calls('GetConfiguration').length === 0,
        'no GetConfiguration to fixed-unit chargers');

    // telemetry from MeterValues
    const assets = await api(apiPort, 'GET', '/api/v1/assets');
    for (const a of assets.json.assets) {
        console.log(`    asset ${a.id} connected=${a.connected} telemetry=${JSON.stringify(a.telemetry)}`);
        check(a.connected === true, `asset ${a.id} connected`);
    }
    const tel = Object.fromEntries(assets.json.assets.map(a => [a.id, a.telemetry || {}]));
    const near = (a, b) => typeof a === 'number' && Math.abs(a - b) < 1e-6;
    check(near(tel.ast_w.power_kw, 7.4) && near(tel.ast_w.energy_kwh, 1.2345) && near(tel.ast_w.current_offered_a, 16) && near(tel.ast_w.soc, 55),
        'ast_w telemetry from W/Wh MeterValues', tel.ast_w);
    check(near(tel.ast_a.power_kw, 7.4) && near(tel.ast_a.energy_kwh, 12.5) && near(tel.ast_a.current_offered_a, 32) && near(tel.ast_a.soc, 80),
        'ast_a telemetry from kW/kWh MeterValues', tel.ast_a);

    // ---- schedule while transactions run
    const rows = [[3000, 11.05, 11.0, 3.7], [6000, 7.39999, 3.0, 2.3], [9000, 22, 22.0, 1.15]];
    const csv = 'timestamp,ev_w_kw,ev_a_kw,ev_auto_kw,price_eur_mwh\n' +
        rows.map(([ms, w, a, au]) => `${isoPlus(ms)},${w},${a},${au},80.5`).join('\n') + '\n';
    const sched = await postSchedule(csv, 'in transaction');
    check(JSON.stringify(sched.ignored_columns) === '["price_eur_mwh"]', 'price column reported as ignored', sched);
    check(sched.commands.length === 9, '9 commands made', sched);
    const cmds = await waitCommands(apiPort, sched.commands, 40000);
    for (const c of cmds) check(c.status === 'COMPLETED', `command ${c.command_id} ${c.asset_id} ${c.parameters.power_kw} kW COMPLETED`, c);
    for (const id of ['CPW', 'CPA', 'CPAUTO']) {
        const got = chs[id].calls('SetChargingProfile');
        check(got.length === 3, `[${id}] received 3 SetChargingProfile`, got.length);
        const kws = rows.map(r => r[{ CPW: 1, CPA: 2, CPAUTO: 3 }[id]]);
        got.forEach((rec, i) => checkProfile(chs[id], rec, kws[i], 'A', true));
    }

    // ---- other charger-initiated messages
    for (const ch of Object.values(chs)) {
        const dt = await ch.call('DataTransfer', { vendorId: 'com.example.unknown', messageId: 'Foo', data: 'bar' });
        check(dt.status === 'UnknownVendorId', `[${ch.id}] DataTransfer unknown vendor -> UnknownVendorId`, dt);
        const fw = await ch.call('FirmwareStatusNotification', { status: 'Downloaded' });
        check(Object.keys(fw).length === 0, `[${ch.id}] FirmwareStatusNotification -> {}`, fw);
        const dg = await ch.call('DiagnosticsStatusNotification', { status: 'Uploaded' });
        check(Object.keys(dg).length === 0, `[${ch.id}] DiagnosticsStatusNotification -> {}`, dg);
    }

    // ---- reconnect + boot: latest setpoint re-sent
    console.log('== reconnect CPW and CPAUTO (now reporting Power)');
    await chs.CPW.close(); await chs.CPAUTO.close();
    await sleep(500);
    chs.CPW = await mk('CPW').connect();
    chs.CPAUTO = await mk('CPAUTO', { rateUnit: 'Power' }).connect();
    await sleep(1500);
    const onConnect = { CPW: chs.CPW.calls('SetChargingProfile').length, CPAUTO: chs.CPAUTO.calls('SetChargingProfile').length };
    console.log(`    SetChargingProfile after connect, before boot: ${JSON.stringify(onConnect)}`);
    await boot(chs.CPW); await boot(chs.CPAUTO);
    await status(chs.CPW, 1, 'Charging'); await status(chs.CPAUTO, 1, 'Charging');
    await sleep(2000);
    for (const [id, kw, unit] of [['CPW', 22, 'W'], ['CPAUTO', 1.15, 'W']]) {
        const got = chs[id].calls('SetChargingProfile');
        check(got.length >= 1, `[${id}] latest setpoint re-sent after reconnect/boot (${got.length} SetChargingProfile)`, got);
        got.forEach(rec => checkProfile(chs[id], rec, kw, unit, true));
    }
    check(chs.CPAUTO.calls('GetConfiguration').length === 1, '[CPAUTO] GetConfiguration asked again after the new boot');

    // ---- stop transactions, then a schedule outside any transaction
    for (const ch of Object.values(chs)) {
        await status(ch, 1, 'SuspendedEV');
        const r = await ch.call('StopTransaction', {
            transactionId: tx[ch.id], meterStop: 9000, timestamp: nowIso(), reason: 'EVDisconnected', idTag: 'TAG-' + ch.id,
            transactionData: [{ timestamp: nowIso(), sampledValue: [{ value: '9000', measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }],
        });
        check(!r.idTagInfo || r.idTagInfo.status === 'Accepted', `[${ch.id}] StopTransaction`, r);
        await status(ch, 1, 'Finishing');
        await status(ch, 1, 'Available');
        delete tx[ch.id];
    }
    const before = Object.fromEntries(Object.entries(chs).map(([id, ch]) => [id, ch.calls('SetChargingProfile').length]));
    const s2 = await postSchedule(`timestamp,ev_w_kw,ev_a_kw,ev_auto_kw\n${isoPlus(2500)},5.0,1.38,0.25\n`, 'no transaction');
    const cmds2 = await waitCommands(apiPort, s2.commands, 30000);
    for (const c of cmds2) check(c.status === 'COMPLETED', `command ${c.command_id} ${c.asset_id} ${c.parameters.power_kw} kW COMPLETED`, c);
    for (const [id, kw, unit] of [['CPW', 5.0, 'W'], ['CPA', 1.38, 'A'], ['CPAUTO', 0.25, 'W']]) {
        const got = chs[id].calls('SetChargingProfile').slice(before[id]);
        check(got.length === 1, `[${id}] one SetChargingProfile outside a transaction`, got.length);
        got.forEach(rec => checkProfile(chs[id], rec, kw, unit, false));
    }

    // ---- every command COMPLETED?
    const all = await api(apiPort, 'GET', '/api/v1/commands');
    const byStatus = {};
    for (const c of all.json.commands) byStatus[c.status] = (byStatus[c.status] || 0) + 1;
    console.log(`    GET /api/v1/commands: ${all.json.commands.length} commands ${JSON.stringify(byStatus)}`);
    for (const c of all.json.commands) if (c.status !== 'COMPLETED') issue('command not COMPLETED', c);

    const other = Object.values(chs).flatMap(ch => ch.received.filter(r => !['SetChargingProfile', 'GetConfiguration'].includes(r.method)));
    console.log(`    other CS calls received: ${JSON.stringify(other.map(r => r.method))}`);

    await misbehave(chs);
    for (const ch of Object.values(chs)) await ch.close();
    console.log(`== done: frames out=${L.counts.out} in=${L.counts.in}; issues=${L.issues.length}`);
    L.issues.forEach(i => console.log('ISSUE ' + i));
    process.exit(L.issues.length === 0 ? 0 : 1);
})().catch(e => {
    console.error('FATAL', e);
    L.issues.forEach(i => console.log('ISSUE ' + i));
    process.exit(1);
});
