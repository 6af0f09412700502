'use strict';
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/spec', '<rootDir>/plugins', '<rootDir>/examples'],
  testMatch: ['**/*.spec.ts'],
  // Type checking is `npm run typecheck`'s job; tsconfig's isolatedModules makes ts-jest transpile only.
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testTimeout: 30000,
  collectCoverageFrom: ['core/**/*.ts', 'operators/**/*.ts', 'config/**/*.ts', 'schemas/**/*.ts', 'plugins/**/*.ts'],
  coverageReporters: ['text-summary'],
  maxWorkers: 2,
  watchman: false,
};
