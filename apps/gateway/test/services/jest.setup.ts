// Jest 30 applies `testTimeout` from the global config only, not per project: the service suites (real servers,
// gateway processes, a 2-core machine shared with other runs) set theirs here. Generous on purpose: no suite asserts
// on wall-clock time.
jest.setTimeout(180_000);
