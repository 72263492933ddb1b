// Small building blocks every page uses: headings, loading/empty/error states, count lists.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { ApiError, UNREACHABLE } from './api.js';

// The first page of a visit leaves the focus where the browser puts it (Tab reaches the skip link).
let navigated = false;

/** A page: its heading takes the focus on navigation, so keyboard and screen-reader users land on it. */
export function Page(props: { title: string; actions?: ComponentChildren; children: ComponentChildren }) {
  const h = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${props.title} · wasmfleet`;
    if (navigated) h.current?.focus();
    navigated = true;
  }, [props.title]);
  return (
    <section class="page">
      <header class="page-head">
        <h1 tabIndex={-1} ref={h}>
          {props.title}
        </h1>
        {props.actions}
      </header>
      {props.children}
    </section>
  );
}

export function Loading(props: { what: string }) {
  return (
    <p class="muted" role="status">
      Loading {props.what}…
    </p>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

/** A failed load: what went wrong in words, the server's code, and a way to try again. */
export function Failure(props: { error: Error; retry?: () => void; notFound?: string }) {
  const e = props.error;
  const title =
    e instanceof ApiError && e.code === UNREACHABLE
      ? 'Server unreachable'
      : e instanceof ApiError && e.status === 404 && props.notFound
        ? props.notFound
        : 'Something went wrong';
  return (
    <div class="failure" role="alert">
      <strong>{title}</strong>
      <p>
        {e.message}
        {e instanceof ApiError && e.code !== UNREACHABLE ? <code class="code">{e.code}</code> : null}
      </p>
      {props.retry ? (
        <button type="button" onClick={props.retry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

/** Label + number pairs, largest first ("committed 48"). */
export function CountList(props: { label: string; counts: Array<[string, number]>; empty?: string }) {
  if (props.counts.length === 0) return <Empty>{props.empty ?? 'None.'}</Empty>;
  return (
    <dl class="counts" aria-label={props.label}>
      {props.counts.map(([k, n]) => (
        <div class="count" key={k}>
          <dt>{k}</dt>
          <dd>{n}</dd>
        </div>
      ))}
    </dl>
  );
}

export function StateBadge(props: { state: string }) {
  return <span class={`badge state-${props.state.replace(/[^a-z_]/g, '')}`}>{props.state}</span>;
}
