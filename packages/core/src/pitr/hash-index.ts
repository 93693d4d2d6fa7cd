/**
 * Pages by SHA-256, for content addressing while a point is taken: every page the parent's packs
 * hold (their hash tables, already in memory as PackReader.hashes) and the pages this point adds.
 *
 * An open-addressing table of 4-byte entries (a page's number among all the packs' pages) keyed
 * by the hash's first 4 bytes, each candidate confirmed against the full 32 bytes where they are
 * kept. The table is at most three quarters full, so it costs 5–11 bytes a page besides the hashes
 * themselves, where a Map of hash strings to objects cost well over 100 (about 40 MB at 1 GiB).
 */
export class PageHashIndex {
  readonly #names: string[] = [];
  readonly #hashes: Buffer[] = [];
  /** First global number of each source; ascending. */
  readonly #starts: number[] = [];
  #total = 0;
  #table: Int32Array;
  #mask: number;
  #newHashes: Buffer = Buffer.alloc(0);
  #newCount = 0;
  #newSource = -1;

  constructor(expected = 1024) {
    let size = 1024;
    while (size * 0.75 < expected) size *= 2;
    this.#table = new Int32Array(size).fill(-1);
    this.#mask = size - 1;
  }

  /** Adds every page of a pack whose hashes (32 bytes a slot) are `hashes`. */
  addPack(name: string, hashes: Buffer): void {
    const k = this.#addSource(name, hashes);
    const n = hashes.length / 32;
    for (let s = 0; s < n; s++) this.#insert(this.#starts[k] as number, hashes, s);
  }

  /** Starts this point's own pack: later `addNew` pages are its slots 0, 1, … */
  startNew(name: string, expected: number): void {
    this.#newHashes = Buffer.alloc(Math.max(64, expected) * 32);
    this.#newSource = this.#addSource(name, this.#newHashes);
  }

  /** Adds the next page of this point's pack. */
  addNew(hash: Buffer): void {
    if ((this.#newCount + 1) * 32 > this.#newHashes.length) {
      const grown = Buffer.alloc(this.#newHashes.length * 2);
      this.#newHashes.copy(grown);
      this.#newHashes = grown;
      this.#hashes[this.#newSource] = grown;
    }
    hash.copy(this.#newHashes, this.#newCount * 32);
    this.#insert(this.#starts[this.#newSource] as number, this.#newHashes, this.#newCount);
    this.#newCount++;
  }

  /** The pack and slot of a page with this hash, if any. */
  find(hash: Buffer): { pack: string; slot: number } | undefined {
    for (let i = hash.readUInt32LE(0) & this.#mask; ; i = (i + 1) & this.#mask) {
      const g = this.#table[i] as number;
      if (g < 0) return undefined;
      const k = this.#sourceOf(g);
      const slot = g - (this.#starts[k] as number);
      if ((this.#hashes[k] as Buffer).compare(hash, 0, 32, slot * 32, slot * 32 + 32) === 0) {
        return { pack: this.#names[k] as string, slot };
      }
    }
  }

  #addSource(name: string, hashes: Buffer): number {
    this.#names.push(name);
    this.#hashes.push(hashes);
    this.#starts.push(this.#total);
    // A new pack's pages are numbered from here; its capacity is reserved up front so the numbers
    // of later sources never move (the new pack is always the last source).
    this.#total += hashes.length / 32;
    return this.#names.length - 1;
  }

  #insert(start: number, hashes: Buffer, slot: number): void {
    const g = start + slot;
    if (g >= this.#total) this.#total = g + 1;
    if (this.#count + 1 > this.#table.length * 0.75) this.#grow();
    this.#place(g, hashes.readUInt32LE(slot * 32));
    this.#count++;
  }

  #count = 0;

  #place(g: number, key: number): void {
    let i = key & this.#mask;
    while ((this.#table[i] as number) >= 0) i = (i + 1) & this.#mask;
    this.#table[i] = g;
  }

  #grow(): void {
    const old = this.#table;
    this.#table = new Int32Array(old.length * 2).fill(-1);
    this.#mask = this.#table.length - 1;
    for (const g of old) {
      if (g < 0) continue;
      const k = this.#sourceOf(g);
      const slot = g - (this.#starts[k] as number);
      this.#place(g, (this.#hashes[k] as Buffer).readUInt32LE(slot * 32));
    }
  }

  /** The source whose numbers include `g` (binary search over the starts). */
  #sourceOf(g: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.#starts[mid] as number) <= g) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
