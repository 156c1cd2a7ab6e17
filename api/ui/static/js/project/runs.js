// What the project's tabs read off a StageRun: its number within the project and how long it ran.

export function runNumber(name) {
  return Number(name.split(".")[1]);
}

export function runSeconds(run) {
  const s = run.status || {};
  if (!s.startTime) return null;
  const end = s.finishTime ? Date.parse(s.finishTime) : Date.now();
  return (end - Date.parse(s.startTime)) / 1000;
}
