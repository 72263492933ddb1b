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
  // Messages whose start was moved to a later turn, first in first out. Once one waits, every
  // later one waits behind it, so messages still start in the order mqemitter released them.
  const waiting: Array<{ message: mqemitter.Message; callback: (err?: Error) => void }> = [];
  let depth = 0;
  let scheduled = false;

  const runNested = (message: mqemitter.Message, callback: (err?: Error) => void) => {
    depth++;
    try {
      run(message, callback);
    } finally {
      depth--;
    }
  };
  const drain = () => {
    scheduled = false;
    // A bounded batch per turn, so sockets and timers get their turn too.
    for (let n = 0; n < 1024 && waiting.length > 0; n++) {
      const next = waiting.shift()!;
      inner.current--;
      runNested(next.message, next.callback);
    }
    if (waiting.length > 0 && !scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  };

  inner._do = function (message, callback) {
    if (depth >= MAX_SYNC_DEPTH || waiting.length > 0) {
      // Hold the slot `released` just gave up, so mqemitter's concurrency count stays true.
      inner._doing = true;
      inner.current++;
      waiting.push({ message, callback });
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
      return mq;
    }
    runNested(message, callback);
    return mq;
  };
  return mq;
}
