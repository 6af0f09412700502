/** The built-in operators, in pipeline order. */
import type { OperatorDef } from '../core/operator';
import { readRequest } from './readRequest';
import { authenticate } from './authenticate';
import { authorize } from './authorize';
import { connect } from './connect';
import { mapSockets } from './mapSockets';
import { log } from './log';

export const builtinOperators: readonly OperatorDef<never>[] = [
  readRequest,
  authenticate,
  authorize,
  connect,
  mapSockets,
  log,
] as unknown as readonly OperatorDef<never>[];
