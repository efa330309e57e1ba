/** Rebalancing: plans of moves that pay for themselves (plan.ts), applied step by step (apply.ts), as host commands (commands.ts). */
export * from './apply.js';
export * from './commands.js';
export * from './plan.js';
export * from './units.js';
export * from './esxi-rule.js';
export * from './numad-rule.js';
export * from './hold.js';
