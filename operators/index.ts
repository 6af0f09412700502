/** The built-in operators, in pipeline order. */
import type { OperatorDef } from '../core/operator';
import { readRequest } from './readRequest';
import { filterHeaders } from './filterHeaders';
import { authenticate } from './authenticate';
import { authorize } from './authorize';
import { limits } from './limits';
import { connect } from './connect';
import { mitm } from './mitm';
import { mapSockets } from './mapSockets';
import { log } from './log';

export const builtinOperators: readonly OperatorDef<never>[] = [
  readRequest,
  filterHeaders,
  authenticate,
  authorize,
  limits,
  mitm,
  connect,
  mapSockets,
  log,
];
