// The S3 client and the commands syncline sends: what a bundle that holds S3 carries of it (see ../sdk-imports.ts).
export { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
