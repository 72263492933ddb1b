// The shell: session gate, navigation, and one URL per page.
import { useEffect } from 'preact/hooks';
import { LocationProvider, Route, Router, useLocation } from 'preact-iso/router';
import { checkSession, signOut, useSession } from './session.js';
import { Loading } from './ui.js';
import { SignIn } from './pages/signin.js';
import { Fleet } from './pages/fleet.js';
import { Devices } from './pages/devices.js';
import { Device } from './pages/device.js';
import { Modules } from './pages/modules.js';
import { Rollouts } from './pages/rollouts.js';
import { Rollout } from './pages/rollout.js';
import { Audit } from './pages/audit.js';
import { NotFound } from './pages/not-found.js';

const NAV = [
  ['/', 'Fleet'],
  ['/devices', 'Devices'],
  ['/modules', 'Modules'],
  ['/rollouts', 'Rollouts'],
  ['/audit', 'Audit'],
] as const;

function Nav() {
  const { path } = useLocation();
  const current = (href: string) => (href === '/' ? path === '/' : path === href || path.startsWith(`${href}/`));
  return (
    <nav aria-label="Main">
      <ul>
        {NAV.map(([href, label]) => (
          <li key={href}>
            <a href={href} aria-current={current(href) ? 'page' : undefined}>
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}

function Shell() {
  const session = useSession();
  useEffect(() => void checkSession(), []);
  if (session.status === 'checking') return <Loading what="the session" />;
  if (session.status === 'signed-out') return <SignIn message={session.message} />;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/">
          wasmfleet
        </a>
        <Nav />
        <div class="who">
          <span title={`token ${session.session.tokenId}`}>
            {session.session.name} ({session.session.role})
          </span>
          <button type="button" class="secondary" onClick={() => void signOut()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">
        <Router>
          <Route path="/" component={Fleet} />
          <Route path="/devices" component={Devices} />
          <Route path="/devices/:id" component={Device} />
          <Route path="/modules" component={Modules} />
          <Route path="/rollouts" component={Rollouts} />
          <Route path="/rollouts/:id" component={Rollout} />
          <Route path="/audit" component={Audit} />
          <Route default component={NotFound} />
        </Router>
      </main>
    </>
  );
}

export function App() {
  return (
    <LocationProvider>
      <Shell />
    </LocationProvider>
  );
}
