// Hashes pieces of a file off the page's thread: {id, blob} in, {id, hex} or {id, error} out.
import { sha256 } from "./sha256.js";

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

self.onmessage = async (event) => {
  const { id, blob } = event.data;
  try {
    const buffer = await blob.arrayBuffer();
    const digest = self.crypto && self.crypto.subtle
      ? hex(await self.crypto.subtle.digest("SHA-256", buffer))
      : sha256(buffer);
    self.postMessage({ id, hex: digest });
  } catch (error) {
    self.postMessage({ id, error: String(error) });
  }
};
