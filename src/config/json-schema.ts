// The JSON Schema of the configuration file, generated from the same schema the loader validates with.
import { z } from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'Lifeboat configuration',
  };
}
