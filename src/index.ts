/** distillery's library API: one function per pipeline stage, plus the building blocks they share. */
export { UserError } from "./util/errors.ts";
