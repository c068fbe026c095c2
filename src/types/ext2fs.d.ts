// Types for the parts of the `ext2fs` package (WASM libext2fs) this project uses.
declare module 'ext2fs' {
  export interface Ext2Disk {
    read(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<{ bytesRead: number; buffer: Buffer }>;
    write(buffer: Buffer, bufferOffset: number, length: number, fileOffset: number): Promise<{ bytesWritten: number; buffer: Buffer }>;
    flush(): Promise<void>;
    discard(offset: number, length: number): Promise<void>;
  }
  export interface Ext2Stats {
    ino: number;
    mode: number;
    nlink: number;
    size: number;
    blocks: number;
    mtime: Date;
    isFile(): boolean;
    isDirectory(): boolean;
    isSymbolicLink(): boolean;
  }
  export interface Ext2Promises {
    /** Always decodes to a string (binary-unsafe): use src/dr/volume/files.ts for bytes. */
    readFile(path: string, encoding?: 'utf8' | { encoding: 'utf8' }): Promise<string>;
    /** Copies all of `data` into the WASM heap and ignores `mode`: prefer files.ts. */
    writeFile(path: string, data: Buffer | string): Promise<void>;
    mkdir(path: string, mode?: number): Promise<void>;
    readdir(path: string): Promise<string[]>;
    rmdir(path: string): Promise<void>;
    unlink(path: string): Promise<void>;
    rename(from: string, to: string): Promise<void>;
    symlink(target: string, path: string): Promise<void>;
    readlink(path: string): Promise<string>;
    stat(path: string): Promise<Ext2Stats>;
    lstat(path: string): Promise<Ext2Stats>;
    chmod(path: string, mode: number): Promise<void>;
    open(path: string, flags: string, mode?: number): Promise<{
      /** The handle's descriptor, for `close(fd)` (see files.ts closeFile). */
      readonly fd: number;
      read(buffer: Buffer, offset: number, length: number, position: number | null): Promise<{ bytesRead: number }>;
      write(buffer: Buffer, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number }>;
      /** Does NOT wait for the close (ext2fs 4.2.5 drops the promise): use files.ts closeFile. */
      close(): Promise<void>;
    }>;
    /** Closes a descriptor and resolves when libext2fs has closed it. */
    close(fd: number): Promise<void>;
    trim(): Promise<void>;
  }
  export interface Ext2Fs {
    promises: Ext2Promises;
    closeAllFileDescriptors(): Promise<void>;
  }
  export function mount(disk: Ext2Disk, offset?: number): Promise<Ext2Fs>;
  export function umount(fs: Ext2Fs): Promise<void>;
}
