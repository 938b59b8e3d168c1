// Generates the app and tray icons (PNG) with no image tools: a padlock drawn by
// signed-distance shapes, anti-aliased. Run: node build/make-icons.mjs
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
};
function png(size, pixel) {
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel((x + 0.5) / size, (y + 0.5) / size, 1 / size);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r; raw[o + 1] = g; raw[o + 2] = b; raw[o + 3] = a;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 6;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
const box = (x, y, cx, cy, hw, hh, r) => {
  const dx = Math.abs(x - cx) - hw + r, dy = Math.abs(y - cy) - hh + r;
  return Math.hypot(Math.max(dx, 0), Math.max(dy, 0)) + Math.min(Math.max(dx, dy), 0) - r;
};
const cover = (d, px) => Math.min(1, Math.max(0, 0.5 - d / px));
const over = (base, color, a) => base.map((v, i) => (i < 3 ? v * (1 - a) + color[i] * a : Math.min(255, v + 255 * a * (1 - v / 255))));

function lock(bg, withBackground) {
  return (x, y, px) => {
    let c = [0, 0, 0, 0];
    if (withBackground) c = over(c, bg, cover(box(x, y, 0.5, 0.5, 0.46, 0.46, 0.12), px));
    const fg = withBackground ? [255, 255, 255] : bg;
    const ring = Math.abs(Math.hypot(x - 0.5, Math.max(0, 0.44 - y) + 0) - 0.15) - 0.045;
    const shackle = y < 0.5 ? (y > 0.44 ? Math.abs(Math.abs(x - 0.5) - 0.15) - 0.045 : ring) : 1;
    c = over(c, fg, cover(shackle, px));
    c = over(c, fg, cover(box(x, y, 0.5, 0.64, 0.26, 0.18, 0.05), px));
    const hole = Math.hypot(x - 0.5, y - 0.62) - 0.05;
    c = over(c, withBackground ? bg : [255, 255, 255], cover(hole, px) * (withBackground ? 1 : 0.9));
    return c.map(Math.round);
  };
}
const blue = [36, 86, 214];
for (const size of [16, 32, 48, 64, 128, 256, 512, 1024]) writeFileSync(new URL(`./icons/${size}x${size}.png`, import.meta.url), png(size, lock(blue, true)));
writeFileSync(new URL('./icon.png', import.meta.url), png(1024, lock(blue, true)));
const trays = { idle: [128, 128, 128], active: [30, 150, 80], attention: [230, 120, 20] };
for (const [state, color] of Object.entries(trays)) {
  writeFileSync(new URL(`./icons/tray-${state}.png`, import.meta.url), png(32, lock(color, false)));
  writeFileSync(new URL(`./icons/tray-${state}@2x.png`, import.meta.url), png(64, lock(color, false)));
}
// macOS menu bar: Template images (black and alpha only; the system tints them for light
// and dark menu bars). The state shows in the shape: idle is faint, active solid,
// attention solid with a dot.
function templateLock(state) {
  return (x, y, px) => {
    const ring = Math.abs(Math.hypot(x - 0.5, Math.max(0, 0.44 - y)) - 0.15) - 0.045;
    const shackle = y < 0.5 ? (y > 0.44 ? Math.abs(Math.abs(x - 0.5) - 0.15) - 0.045 : ring) : 1;
    let a = Math.max(cover(shackle, px), cover(box(x, y, 0.5, 0.64, 0.26, 0.18, 0.05), px));
    a *= 1 - cover(Math.hypot(x - 0.5, y - 0.62) - 0.05, px);
    if (state === 'idle') a *= 0.5;
    if (state === 'attention') a = Math.max(a * (1 - cover(Math.hypot(x - 0.8, y - 0.22) - 0.17, px)), cover(Math.hypot(x - 0.8, y - 0.22) - 0.12, px));
    return [0, 0, 0, Math.round(255 * a)];
  };
}
for (const state of Object.keys(trays)) {
  writeFileSync(new URL(`./icons/tray-${state}Template.png`, import.meta.url), png(18, templateLock(state)));
  writeFileSync(new URL(`./icons/tray-${state}Template@2x.png`, import.meta.url), png(36, templateLock(state)));
}
