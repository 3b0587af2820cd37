// Preloaded into s3rver 3.7.1 (node --require, see S3Server::set_atomic_writes):
// makes its filesystem store replace, read and delete objects atomically, as S3
// does. Stock s3rver rewrites an object's file in place (truncate, then write)
// and its ETag (KEY._S3rver_object.md5) after that, and a GET or a listing takes
// the size from stat() and the ETag from the .md5 file in separate asynchronous
// steps. So under concurrent PUTs a GET or a LIST can report 0 bytes, return
// part of the old and part of the new body, or pair new bytes with the old
// ETag: reads the object never held. Tests that assert "no read mixes two
// versions" need a server that cannot do that itself.
//
// Here every step that touches an object's three files runs synchronously in
// one turn of node's event loop, so no other request's step falls in between:
//   PUT     the body is received first; then write it to a temporary file,
//           rename it over the object, write the .md5 and the metadata.
//   GET     read the metadata (stat, .md5, metadata.json) and open the object;
//           the body is streamed from that descriptor, so a PUT that renames a
//           new file into place meanwhile does not change what this GET sends.
//   HEAD    as GET; LIST reads each key's metadata the same way.
//   DELETE  unlink the three files.
// Server-side copy is left as s3rver has it (not atomic). The on-disk layout is
// unchanged.
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const s3rverDir = path.join(path.dirname(fs.realpathSync(process.argv[1])), '..');
const FilesystemStore = require(path.join(s3rverDir, 'lib', 'stores', 'filesystem.js'));
const S3Object = require(path.join(s3rverDir, 'lib', 'models', 'object.js'));

let tmpSerial = 0;

function readOptional(file) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  }
}

// FilesystemStore.getMetadata, synchronously.
function metadataSync(store, bucket, key) {
  const objectPath = store.getResourcePath(bucket, key, 'object');
  const stat = fs.statSync(objectPath); // throws ENOENT when there is no object
  const json = readOptional(store.getResourcePath(bucket, key, 'metadata.json'));
  let md5 = readOptional(`${objectPath}.md5`);
  if (md5 === undefined) {
    md5 = crypto.createHash('md5').update(fs.readFileSync(objectPath)).digest('hex');
    fs.writeFileSync(`${objectPath}.md5`, md5);
  }
  return {
    ...(json === undefined ? undefined : JSON.parse(json)),
    etag: JSON.stringify(md5.toString()),
    'last-modified': stat.mtime.toUTCString(),
    'content-length': stat.size,
  };
}

FilesystemStore.prototype.getMetadata = async function getMetadata(bucket, key) {
  return metadataSync(this, bucket, key);
};

FilesystemStore.prototype.getObject = async function getObject(bucket, key, options) {
  let metadata;
  let fd;
  try {
    metadata = metadataSync(this, bucket, key);
    fd = fs.openSync(this.getResourcePath(bucket, key, 'object'), 'r');
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
  const lastByte = Math.max(0, Number(metadata['content-length']) - 1);
  const range = {
    start: (options && options.start) || 0,
    end: Math.min((options && options.end) || Infinity, lastByte),
  };
  const ranged = options && (options.start !== undefined || options.end);
  if (range.start < 0 || Math.min(range.end, lastByte) < range.start) {
    fs.closeSync(fd);
    const object = new S3Object(bucket, key, null, metadata);
    if (ranged) object.range = range;
    return object;
  }
  const content = fs.createReadStream(null, { fd, start: range.start, end: range.end });
  const object = new S3Object(bucket, key, content, metadata);
  if (ranged) object.range = range;
  return object;
};

FilesystemStore.prototype.putObject = async function putObject(object) {
  let content = object.content;
  if (!Buffer.isBuffer(content)) {
    const chunks = [];
    for await (const chunk of object.content) chunks.push(chunk);
    content = Buffer.concat(chunks);
  }
  const md5 = crypto.createHash('md5').update(content).digest('hex');
  const json = {};
  for (const [name, value] of Object.entries(object.metadata || {})) {
    if (S3Object.ALLOWED_METADATA.includes(name) || name.startsWith('x-amz-meta-')) {
      json[name] = value;
    }
  }
  // From here on synchronous: no other request runs until all three files
  // hold the new version.
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  fs.mkdirSync(path.dirname(objectPath), { recursive: true });
  const tmp = `${objectPath}.atomic-${process.pid}-${++tmpSerial}`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, objectPath);
  fs.writeFileSync(this.getResourcePath(object.bucket, object.key, 'object.md5'), md5);
  fs.writeFileSync(
    this.getResourcePath(object.bucket, object.key, 'metadata.json'),
    JSON.stringify(json, null, 2),
  );
  return { size: content.length, md5 };
};

FilesystemStore.prototype.deleteObject = async function deleteObject(bucket, key) {
  for (const resource of ['object', 'object.md5', 'metadata.json']) {
    try {
      fs.unlinkSync(this.getResourcePath(bucket, key, resource));
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
    }
  }
  // Empty directories go, as in s3rver.
  const bucketPath = this.getBucketPath(bucket);
  const parts = key.split('/');
  parts.pop();
  while (parts.length && !fs.readdirSync(path.join(bucketPath, ...parts)).length) {
    fs.rmdirSync(path.join(bucketPath, ...parts));
    parts.pop();
  }
};
