// A port nobody listens on right now, for a service that must be told its port up front
// (mosquitto's config, PostgreSQL's -p): bind port 0 on loopback, read it, let it go.
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}
