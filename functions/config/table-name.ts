/** A DynamoDB table's name from a config's table name or table ARN (`arn:aws:dynamodb:<region>:<account>:table/NAME`). */
export const tableNameOf = (nameOrArn: string): string => nameOrArn.replace(/^arn:[^:]*:dynamodb:[^:]*:[^:]*:table\//, '').split('/')[0]!;
