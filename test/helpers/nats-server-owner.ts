/**
 * Test fixture, run as its own process: starts a nats-server through startNatsServer, prints
 * `{"pid":…,"url":…,"watchdogPid":…}` on one line, and then waits to be killed (the test
 * SIGKILLs it to check that the server does not outlive it). Options come as JSON in argv[2].
 */
import { startNatsServer } from "../../runtime/nats-server.ts";

const opts = process.argv[2] ? JSON.parse(process.argv[2]) : {};
const srv = await startNatsServer(opts);
process.stdout.write(JSON.stringify({ pid: srv.pid, url: srv.url, watchdogPid: srv.watchdogPid }) + "\n");
setInterval(() => {}, 1 << 30);
