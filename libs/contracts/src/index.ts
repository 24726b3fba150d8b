export * from './auth';
export * from './errors';
export * from './limits';
export * from './reading';
export * from './rest';
export * from './socket';
export * from './topics';
export * from './ws';
