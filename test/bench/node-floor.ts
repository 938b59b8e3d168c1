// The floor of any Node broker: a process that accepts a connection, dials the target,
// and hands both sockets to the broker's own native pump (or pipes them in JS where the
// pump is not built). No protocol, no credentials, no audit, no access check: what a
// connection costs a Node process before the broker does anything of its own. The
// MySQL bench runs it beside haproxy so the churn rows say how much of the broker's
// CPU per connection is Node's and how much is the broker's.
// Usage: node dist/test/bench/node-floor.js LISTEN_PORT TARGET_PORT
import { connect, createServer, type Socket } from 'node:net';
import { handOver } from '../../broker/net/native-pump.js';

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
if (!listenPort || !targetPort) throw new Error('usage: node-floor LISTEN_PORT TARGET_PORT');

function serve(client: Socket): void {
  client.setNoDelay(true);
  const target = connect({ host: '127.0.0.1', port: targetPort!, noDelay: true });
  const drop = () => {
    client.destroy();
    target.destroy();
  };
  client.on('error', drop);
  target.on('error', drop);
  target.once('connect', () => {
    if (handOver(client, target, { toTarget: [], toClient: [] }, { done: drop })) return;
    client.pipe(target);
    target.pipe(client);
    client.once('close', drop);
    target.once('close', drop);
  });
}

createServer(serve).listen(listenPort, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
