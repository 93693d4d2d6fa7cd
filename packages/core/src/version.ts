/** The toolkit's version, shown by --version and recorded in manifests. */
export const VERSION = '0.1.0';
