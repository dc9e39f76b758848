export { defaultMarkers, resolveMarkers, type TemplateMarkers } from "./markers.ts";
export {
  foldReasoning,
  lastBoxed,
  type ParsedCompletion,
  parseCompletion,
  type TemplateProblem,
} from "./parse.ts";
export {
  type ChatMessage,
  formatCompletion,
  renderChatSample,
  renderInstruction,
  renderTeacherMessages,
} from "./render.ts";
