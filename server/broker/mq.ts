// The embedded broker's message bus: mqemitter (what aedes uses by default) with its unbounded
// recursion broken. When more messages are queued than `concurrency` allows and the listeners of
// the queued ones complete synchronously (no subscriber, or an in-process one), mqemitter's
// `released` calls `_do`, which releases again, one stack frame set per queued message: at
// thousands of devices the queue is long enough to throw "Maximum call stack size exceeded"
// inside the broker (mqemitter PR #204, aedes #193; still open upstream). Past a small nesting
// depth, the next queued message is started on the next turn of the event loop instead, the
// upstream maintainer's suggested remedy; below it, nothing changes (no extra latency).
import mqemitter from 'mqemitter';

/** Synchronous `_do` nesting allowed before the next message waits for setImmediate. */
export const MAX_SYNC_DEPTH = 64;

type Do = (message: mqemitter.Message, callback: (err?: Error) => void) => unknown;
interface MqInternals {
  _do: Do;
  _doing: boolean;
  current: number;
}

export function createBrokerMq(concurrency = 100): mqemitter.MQEmitter {
  const mq = mqemitter({ concurrency, matchEmptyLevels: true /* [MQTT-4.7.1-3] */ });
  const inner = mq as unknown as MqInternals;
  const run = inner._do.bind(mq) as Do;
  let depth = 0;
  inner._do = function (message, callback) {
    if (depth >= MAX_SYNC_DEPTH) {
      // Hold the slot `released` just gave up, so concurrency and ordering stay as mqemitter keeps them.
      inner._doing = true;
      inner.current++;
      setImmediate(() => {
        inner.current--;
        run(message, callback);
      });
      return mq;
    }
    depth++;
    try {
      return run(message, callback);
    } finally {
      depth--;
    }
  };
  return mq;
}
