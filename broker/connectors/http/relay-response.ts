// One request upstream through undici's handler callbacks, its answer written to the
// client as the callbacks come: head when undici has parsed it, each body chunk as it is
// read (a full client socket pauses undici's socket until 'drain'), end on completion.
// undici's request() would wrap the answer in a Readable per response and the broker
// would pipe it to the client; this is the same flow without those two streams.
import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/** The client went away before the answer was complete (the upstream request was aborted). */
export class ClientGone extends Error {
  constructor() {
    super('the client closed the connection before the answer was complete');
  }
}

export interface RelayHooks {
  /** Headers for the client (hop-by-hop removed, Location mapped). */
  head(status: number, headers: IncomingHttpHeaders): OutgoingHttpHeaders;
  /** Body bytes written to the client so far. */
  counted: { out: number };
}

/** Resolves once the answer is complete; rejects with the upstream's error or ClientGone. */
export function relayResponse(dispatcher: Dispatcher, options: Dispatcher.DispatchOptions, res: ServerResponse, hooks: RelayHooks): Promise<void> {
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let settled = false;
    const onDrain = () => controller?.resume();
    const onClose = () => controller?.abort(new ClientGone());
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      res.off('drain', onDrain);
      res.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    res.on('drain', onDrain);
    res.on('close', onClose);
    dispatcher.dispatch(options, {
      onRequestStart(c) {
        controller = c;
        if (res.destroyed) c.abort(new ClientGone());
      },
      onResponseStart(_c, status, headers) {
        // 1xx: Node's server answers 100-continue itself; others are not relayed.
        if (status >= 200) res.writeHead(status, hooks.head(status, headers));
      },
      onResponseData(c, chunk) {
        hooks.counted.out += chunk.length;
        if (!res.write(chunk)) c.pause();
      },
      onResponseEnd() {
        res.end();
        settle();
      },
      onResponseError(_c, err) {
        settle(err);
      },
    });
  });
}
