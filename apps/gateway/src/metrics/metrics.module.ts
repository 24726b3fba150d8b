import { Global, Module } from '@nestjs/common';
import { MetricsRegistry } from './metrics';
import { MetricsController } from './metrics.controller';

/** One Prometheus registry per gateway; each module registers its own metrics with it, `/metrics` renders it. */
@Global()
@Module({
  controllers: [MetricsController],
  providers: [{ provide: MetricsRegistry, useFactory: () => new MetricsRegistry() }],
  exports: [MetricsRegistry],
})
export class MetricsModule {}
