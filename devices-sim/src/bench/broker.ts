// The bare-broker baseline: aedes with default options in its own process, nothing else. Started by the bench harness
// with BENCH_MQTT_PORT; not part of the simulator's public surface.
import { createServer } from 'node:net';
import { Aedes } from 'aedes';

async function main(): Promise<void> {
  const port = Number(process.env.BENCH_MQTT_PORT ?? 0);
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  server.listen(port, '127.0.0.1', () => console.log('aedes ready'));
  const stop = (): void => {
    // Connections are left to die with the process: the harness has finished with them.
    broker.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
