// Following a server-sent-events stream (a rollout's live events). The browser's EventSource sends
// the session cookie and reconnects by itself after a network blip; when the server refuses the
// stream (session expired, rollout gone) it stops, and the page is told to look why.
import { useEffect, useRef, useState } from 'preact/hooks';

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

export function useEventStream<T>(url: string | null, events: string[], onEvent: (name: string, data: T) => void, onClosed: () => void): StreamStatus {
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const handlers = useRef({ onEvent, onClosed });
  handlers.current = { onEvent, onClosed };
  useEffect(() => {
    if (!url) return;
    setStatus('connecting');
    const source = new EventSource(url, { withCredentials: true });
    source.onopen = () => setStatus('live');
    const listen = (name: string) => (e: MessageEvent<string>) => {
      let data: T;
      try {
        data = JSON.parse(e.data) as T;
      } catch {
        return;
      }
      handlers.current.onEvent(name, data);
    };
    for (const name of events) source.addEventListener(name, listen(name) as EventListener);
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        setStatus('closed');
        handlers.current.onClosed();
      } else setStatus('reconnecting');
    };
    return () => source.close();
  }, [url, events.join(',')]);
  return status;
}
