// Starts DynamoDB Local bound to 127.0.0.1 and tied to the process that started it.
// Compiled once (lib/local/servers.ts) and run as: java -cp <class dir>:DynamoDBLocal.jar DynamoDbLocalLauncher <DynamoDB Local arguments>
// DynamoDB Local has no bind-address option (its Jetty server listens on every interface), so the connectors
// are set to loopback before the server starts. Its stdin is a pipe from the parent: EOF means the parent is
// gone (even after SIGKILL), and the JVM stops, closing the database, instead of outliving it.

import java.lang.reflect.Field;
import java.lang.reflect.Method;

class DynamoDbLocalLauncher {
  public static void main(String[] args) throws Exception {
    Class<?> runner = Class.forName("software.amazon.dynamodb.services.local.main.ServerRunner");
    Object proxy = runner.getMethod("createServerFromCommandLineArgs", String[].class).invoke(null, (Object) args);
    Field serverField = proxy.getClass().getDeclaredField("server");
    serverField.setAccessible(true);
    Object jetty = serverField.get(proxy);
    Object[] connectors = (Object[]) jetty.getClass().getMethod("getConnectors").invoke(jetty);
    if (connectors.length == 0) throw new IllegalStateException("DynamoDB Local has no connector to bind");
    for (Object connector : connectors) {
      connector.getClass().getMethod("setHost", String.class).invoke(connector, "127.0.0.1");
    }
    Method stop = proxy.getClass().getMethod("stop");
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        stop.invoke(proxy);
      } catch (Exception e) {
        System.err.println("DynamoDB Local stop failed: " + e);
      }
    }));
    proxy.getClass().getMethod("start").invoke(proxy);
    System.out.println("syncline: DynamoDB Local listening on 127.0.0.1");
    Thread watchdog = new Thread(() -> {
      try {
        while (System.in.read() != -1) {
          // The parent writes nothing; any byte is ignored.
        }
      } catch (Exception e) {
        // A broken pipe means the parent is gone too.
      }
      System.exit(0);
    }, "parent-watchdog");
    watchdog.setDaemon(true);
    watchdog.start();
    proxy.getClass().getMethod("join").invoke(proxy);
  }
}
