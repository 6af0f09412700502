/**
 * Fresh registries holding the built-in operators, auth methods and service templates. Each
 * loaded config gets its own copy, so a reload's plugin registrations start from a clean slate
 * (no double registration).
 */
import { Registry } from './registry';
import type { OperatorDef } from './operator';
import type { AuthMethodDef, ServiceTemplate } from './env';
import { builtinOperators } from '../operators';
import { builtinTemplates } from '../services';
// Registers the `admin` protocol reader as a side effect, like readRequest's own readers.
import { admin } from '../operators/admin';

export interface Registries {
  readonly operators: Registry<OperatorDef<never>>;
  readonly authMethods: Registry<AuthMethodDef>;
  readonly templates: Registry<ServiceTemplate>;
}

export function builtinRegistries(): Registries {
  const operators = new Registry<OperatorDef<never>>('operator');
  for (const op of builtinOperators) operators.register(op.name, op);
  operators.register(admin.name, admin);
  const templates = new Registry<ServiceTemplate>('service type');
  for (const t of builtinTemplates()) templates.register(t.type, t);
  return { operators, authMethods: new Registry<AuthMethodDef>('auth method'), templates };
}
