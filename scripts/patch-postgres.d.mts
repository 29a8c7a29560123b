// Types of scripts/patch-postgres.mjs: what the store checks the postgres.js it loads with, and the edits (the package test undoes them).
export declare const EDITS: readonly (readonly [before: string, after: string, issue: string])[];
export declare function postgresRoot(): string;
export declare function mendState(root: string): { version: string; unmended: string[] };
