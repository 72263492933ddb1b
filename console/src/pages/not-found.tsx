import { Page } from '../ui.js';

export function NotFound() {
  return (
    <Page title="Page not found">
      <p>
        There is no page at this address. Go to the <a href="/">fleet overview</a>.
      </p>
    </Page>
  );
}
