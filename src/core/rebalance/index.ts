/** Rebalancing: plans of moves that pay for themselves (plan.ts), applied step by step (apply.ts), as commands (commands.ts). */
export * from './apply.js';
export * from './plan.js';
