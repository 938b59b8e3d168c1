// Loaded with --import into the harness's utility child before the broker entry:
// process.parentPort as Electron's utility process has it (postMessage to the parent;
// 'message' events carrying { data }), over Node's IPC channel.
import { EventEmitter } from 'node:events';

const send = process.send?.bind(process);
const port = Object.assign(new EventEmitter(), {
  postMessage(message: unknown) {
    send?.(message);
  },
  start() {},
});
process.on('message', (data) => port.emit('message', { data, ports: [] }));
// The IPC channel would keep the child alive on its own; Electron's parentPort does not.
process.channel?.unref();
Object.defineProperty(process, 'parentPort', { value: port, enumerable: false });
// Electron's utility process has no process.send: the broker must not rely on it.
Object.defineProperty(process, 'send', { value: undefined, configurable: true });
