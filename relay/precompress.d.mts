export type ContentCoding = 'br' | 'gzip';
export declare const CODING_SUFFIX: Readonly<Record<ContentCoding, string>>;
export declare function isCompressible(fileName: string): boolean;
export declare function precompress(body: Uint8Array): Partial<Record<ContentCoding, Buffer>>;
