// Sign-in: the operator token goes once to POST /v1/session and is exchanged for an HttpOnly
// cookie. The field is a password field in a form posted by script (never a GET: the token must
// not land in the URL), and nothing is stored in the browser.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api.js';
import { signIn } from '../session.js';

export function SignIn(props: { message?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = 'Sign in · wasmfleet';
    field.current?.focus();
  }, []);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(token.trim());
    } catch (err) {
      const e = err as ApiError;
      setError(e.status === 401 ? 'That token was refused: it is unknown or revoked.' : e.status === 429 ? `Too many failed attempts from this address. ${e.message}` : e.message);
      setBusy(false);
      field.current?.select();
    }
  };

  return (
    <main class="signin" id="main">
      <h1>wasmfleet console</h1>
      {props.message ? (
        <p class="notice" role="status">
          {props.message}
        </p>
      ) : null}
      <form method="post" action="#" onSubmit={submit}>
        <label for="token">Operator token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          required
          value={token}
          ref={field}
          aria-describedby="token-help"
          aria-invalid={error ? 'true' : undefined}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
        />
        <p id="token-help" class="muted">
          The token printed by <code>wasmfleet server</code> (also in <code>&lt;data dir&gt;/operator-token</code>) or one made with <code>wasmfleet tokens create</code>.
        </p>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
