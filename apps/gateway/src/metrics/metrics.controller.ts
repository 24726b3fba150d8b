import { Controller, Get, Header } from '@nestjs/common';
import { MetricsAccess } from '../common/access';
import { MetricsRegistry } from './metrics';

/** `/metrics`: the registry every module registers its metrics with, in Prometheus text format. */
@Controller()
export class MetricsController {
  constructor(private readonly registry: MetricsRegistry) {}

  @MetricsAccess()
  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}
