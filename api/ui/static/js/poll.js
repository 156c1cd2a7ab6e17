// Repeats `task` every `ms` while the page shows the view; a failing call is shown, not fatal.
export function every(ms, task, onError) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try {
      await task();
      if (onError) onError(null);
    } catch (error) {
      if (onError) onError(error);
    }
    if (!stopped) timer = setTimeout(tick, document.hidden ? ms * 4 : ms);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
